"""Logging setup, operation metrics and health: what an operator watches."""

"""Metadata filters: the ``where=`` language (``parse``), its evaluation over columns of
metadata (``evaluate``), and the per-collection column cache it reads (``columns``)."""

"""Search: the filtered-search planner (``planner.py``) and the code that runs a search over
one collection's state (``execute.py``). ``Collection`` validates a request and calls here."""

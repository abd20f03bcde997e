"""Xray credentials: pure input validation (`validation`) and the use-cases behind the page (`service`)."""

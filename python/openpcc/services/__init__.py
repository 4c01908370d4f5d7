"""Server roles, one module each (``openpcc <role> --config FILE``)."""

"""The PyFlink shell: the pandas and async UDFs around the engine, metrics, the async patch."""

"""The load engine: devices as locust users. The only package that imports locust."""

"""The web server around the Streamlit app: the ASGI entry (server.py) and its upload streaming."""

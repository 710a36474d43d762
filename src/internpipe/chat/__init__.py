"""`internpipe chat`: talk to a model of a recipe, a model folder or a server, in the
terminal (terminal.py) or in a web page (web.py, the page itself is workers/web_chat.py).
targets.py turns what the user named into a served endpoint."""

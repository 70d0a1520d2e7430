"""The HTTP face: a FastAPI app that scores uploaded photos and ranks a listing's photos, and a web page.

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart); plain scoring never imports this package.
"""

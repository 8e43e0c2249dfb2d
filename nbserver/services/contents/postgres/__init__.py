"""The PostgreSQL contents store: files, notebooks, folders and checkpoints as rows (issue 17).

``schema`` holds the migrations (``nbserver db upgrade``), ``blobs`` the content-addressed,
chunked storage of file bytes, ``manager`` the ContentsManager, ``checkpoints`` its checkpoints.
"""

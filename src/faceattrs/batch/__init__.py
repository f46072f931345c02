"""Many photos: Parquet output (:mod:`.schema`, :mod:`.parquet`), resumable runs
(:mod:`.resume`) and a Ray Data engine (:mod:`.ray_engine`).

Nothing here is imported by ``import faceattrs``; pyarrow (``pip install
'faceattrs[parquet]'``) and Ray (``pip install 'faceattrs[ray]'``) are imported
only when these modules are used.
"""

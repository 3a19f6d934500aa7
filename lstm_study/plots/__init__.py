"""Every figure helper of the book; the only place in the package that imports matplotlib.

One module per part of the book (``theory``, ``data``, ``forecast``, ...). Helpers take results
(arrays, frames, histories), never models, so that drawing a figure never retrains anything.
"""

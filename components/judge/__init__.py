"""The LLM judge (teacher): candidate pairs in, soft teacher labels out.

``candidates`` picks the pairs, ``run`` judges them into a resumable store through a backend
(``local``: a transformers model; ``remote``: an OpenAI-compatible endpoint) and writes the
teacher labels (``labels``, the contract the cross-encoder reads); ``component`` is the KFP
step. Benchmarks of the judge against human labels are in ``bench``, ``quality`` and
``report``.
"""

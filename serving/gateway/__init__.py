"""The gRPC recommendation gateway: item -> Triton embed_text -> Milvus -> (score_pairs) -> keyphrases."""

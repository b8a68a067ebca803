"""Export of the student and the cross-encoder to ONNX / TensorRT and a Triton model repository."""

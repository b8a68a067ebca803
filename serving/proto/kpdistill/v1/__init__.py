"""Protocol buffers of the kpdistill services (generated code beside each .proto)."""

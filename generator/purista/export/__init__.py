"""Documents made from the spec alone: AsyncAPI, OpenAPI and a Mermaid graph."""

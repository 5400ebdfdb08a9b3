"""Product retrieval: catalog ingestion, embeddings, the FAISS index, hybrid search, recommendations
and grounded descriptions. The engine reaches it through `retrieval.service.CatalogSearch`."""

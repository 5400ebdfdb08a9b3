"""The same tools through other frameworks' interfaces: LangChain tools and Rasa SDK actions."""

"""The gateway's own types, shared by every layer (api, services, store, upstream): named by
concern, importing nothing above them."""

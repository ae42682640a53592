"""PrepKit Interviews backend: domain, ports, adapters, HTTP API and local stack."""

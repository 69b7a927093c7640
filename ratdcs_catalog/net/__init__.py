"""Every request ratdcs sends, under one network policy.

- ``policy``: ``NetworkPolicy``, built once from the configuration: back-off, Retry-After,
  HTML sniffing, User-Agent, TLS, proxies, and where the MAST token may go.
- ``catalog``: ``CatalogHTTP``, the catalog-query client (requests), built on the policy.
- ``files``: ``FileClient``, the file-download client, built on the policy: redirects hop by
  hop, deadlines; ``direct``: its transport, kept-alive http.client connections (urllib3 only
  for a host behind a proxy).
- ``testing``: ``MockTransport``, handed to either client in place of the network.

Both clients take ``transport=`` (as httpx does), so unit tests run without a server; the
sandbox archive stays the integration test. Nothing is imported here: ``ratdcs --help``
must not pay for requests, and a sync without a proxy never imports urllib3.
"""

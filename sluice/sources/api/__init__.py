"""REST APIs as sources: a declarative description (YAML) that the engine pages, authenticates and paces.

:mod:`~sluice.sources.api.spec` is the description, :mod:`~sluice.sources.api.auth` the credentials
(API key, bearer, OAuth2), :mod:`~sluice.sources.api.limits` the request budget and backoff,
:mod:`~sluice.sources.api.pages` the pagination styles, :mod:`~sluice.sources.api.fetch` one page's
request, and :mod:`~sluice.sources.api.sync` the pages committed to the lake with their position.
"""

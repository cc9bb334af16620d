"""Search a catalog: the filter language (:mod:`vestis.search.filters`) and the searcher."""

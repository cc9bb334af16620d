"""Search a catalog: the searcher, over the filter language of :mod:`vestis.schema.filters`."""

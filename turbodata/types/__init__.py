"""The types stage: CDM types mapped to the narrowest correct SQL types, widened as data demands."""

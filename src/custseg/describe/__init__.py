"""What a marketer reads about each segment: profiles, business names, actions, CRM rules.

- :mod:`~custseg.describe.totals`: exact per-segment aggregates, counted during the assignment pass.
- :mod:`~custseg.describe.profile`: sizes, means, quantiles, category mixes, differences.
- :mod:`~custseg.describe.naming`: names from where a segment's typical customer ranks.
- :mod:`~custseg.describe.slugs`: segment file names: safe, short, distinct within a run.
- :mod:`~custseg.describe.actions`: suggested actions from a rule table (``actions.yaml``).
- :mod:`~custseg.describe.rules`: threshold rules a CRM can use, and their fidelity.
"""

"""Alert rules and alerts for every surface: rules CRUD and alerts (``rules``), what a rule
measures (``metrics``), the leaderless evaluation every edge runs (``evaluator``), and the
service holding the store and the mirrors of both buckets (``core``)."""

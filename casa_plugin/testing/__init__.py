"""For tests, the benchmark and the demo only: synthetic ALMA deliveries, the pipeline stand-in, comparisons.

The ALMA pipeline is on no package registry; ``pipeline_standin`` is the only stand-in, here.
"""

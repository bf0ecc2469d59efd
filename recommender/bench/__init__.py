"""The scale benchmark (`manage.py bench_scale`): a scratch database filled with the real indexed
images plus synthetic artworks that follow their distribution, measured with the product's own
shortlist, image query, duplicate scan and similar-artworks functions.

synthetic (vectors, numpy only) → storage (scratch database, COPY, indexes, sizes, memory) →
product (every call into product code, in one place) → run (the phases and the figures).
"""

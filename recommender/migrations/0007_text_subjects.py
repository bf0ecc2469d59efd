"""Iconclass story subjects with their sentence embeddings (recommender.text_search, `manage.py
build_subjects`). Reference data read only by raw statements, so a table without a Django model."""

from django.db import migrations

from recommender.models import TEXT_DIM


class Migration(migrations.Migration):

    dependencies = [
        ("recommender", "0006_halfvec_and_scans"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                f"""CREATE TABLE recommender_subject (
                        notation text PRIMARY KEY,
                        text text NOT NULL,
                        embedding vector({TEXT_DIM}) NOT NULL,
                        model_version varchar(120) NOT NULL)""",
                """CREATE INDEX subject_embedding_hnsw ON recommender_subject
                   USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)""",
            ],
            reverse_sql=["DROP TABLE recommender_subject"],
        ),
    ]

"""The text search's multilingual title list: one row per distinct artwork title with its e5 vector
(`manage.py build_title_vectors`), and a plain index on the artwork title, by which the titles found
are joined back to their artworks (the trigram index on UPPER(title) answers equality too, but reads
the postings of every trigram of a title: 40 ms for 20 titles against well under 1 ms)."""

import pgvector.django.indexes
from django.db import migrations, models

import recommender.models


class Migration(migrations.Migration):

    dependencies = [
        ("recommender", "0009_joint_in_sentence_space"),
    ]

    operations = [
        migrations.CreateModel(
            name="TitleVector",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=500, unique=True)),
                ("embedding", recommender.models.HalfVectorField(dimensions=384)),
                ("model_version", models.CharField(max_length=120)),
            ],
            options={
                "ordering": ["title"],
                "indexes": [pgvector.django.indexes.HnswIndex(ef_construction=64, fields=["embedding"], m=16,
                                                              name="title_vector_hnsw",
                                                              opclasses=["halfvec_cosine_ops"])],
            },
        ),
        # Not in the Artwork model's Meta: a database index only the raw join of the title list uses.
        migrations.RunSQL("CREATE INDEX artwork_title_eq ON recommender_artwork (title)",
                          reverse_sql="DROP INDEX artwork_title_eq"),
    ]

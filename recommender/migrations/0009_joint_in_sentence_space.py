"""The joint image/text space becomes the sentence encoder's own (384-d): images are mapped into
it and a query's MiniLM vector ranks them as it is. Projections of the old 256-d space cannot be
kept; `train_joint` makes the new ones. The text search's joint list starts from the artworks that
are not catalogue rows, through a partial index."""

import pgvector.django.vector
from django.db import migrations, models

CLEAR = ("UPDATE recommender_artworkimage SET joint_embedding = NULL, joint_version = '' "
         "WHERE joint_embedding IS NOT NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("recommender", "0008_similar_embedding"),
    ]

    operations = [
        migrations.RunSQL(CLEAR, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="artworkimage",
            name="joint_embedding",
            field=pgvector.django.vector.VectorField(blank=True, dimensions=384, null=True),
        ),
        migrations.AddIndex(
            model_name="artwork",
            index=models.Index(condition=models.Q(("source", "catalogue"), _negated=True), fields=["source"],
                               name="artwork_not_catalogue"),
        ),
        # Going back, the 384-d projections are cleared before the column returns to 256-d.
        migrations.RunSQL(migrations.RunSQL.noop, reverse_sql=CLEAR),
    ]

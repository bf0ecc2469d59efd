"""The joint image/text space becomes the sentence encoder's own (384-d): images are mapped into
it and a query's MiniLM vector ranks them as it is. Projections of the old 256-d space cannot be
kept; `train_joint` makes the new ones."""

import pgvector.django.vector
from django.db import migrations

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
        # Going back, the 384-d projections are cleared before the column returns to 256-d.
        migrations.RunSQL(migrations.RunSQL.noop, reverse_sql=CLEAR),
    ]

"""Catalogue, images with their CNN vectors and keypoints, and duplicate candidate pairs."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse
from pgvector.django import HalfVectorField as _HalfVectorField
from pgvector.django import HnswIndex, VectorField

from ml.multilingual import DIM as MULTILINGUAL_DIM
from ml.names import display_author

FEATURE_DIM = 512
TEXT_DIM = 384  # all-MiniLM-L6-v2
JOINT_DIM = TEXT_DIM  # ml.joint: images mapped into the sentence space (its text side is the identity)
# The width of the learned similarity's stored vectors (ml.similarity.SimilarityConfig.out_dim of
# the product's configuration).
SIMILAR_DIM = 640  # 128 learned + the 512-d CNN vector it is blended with


class HalfVectorField(_HalfVectorField):
    """pgvector's `halfvec`: 2 bytes a dimension in the table and its HNSW index (half of
    `vector`), read back as float32 numpy like `VectorField`. Image vectors are unit-norm with
    components well inside float16's range; a cosine computed from halves differs from the
    float32 one by < 1e-3, far below any threshold the rules use."""

    def from_db_value(self, value: object, expression: object, connection: object) -> np.ndarray | None:
        return _float32(super().from_db_value(value, expression, connection))

    def to_python(self, value: object) -> object:
        if value is None or isinstance(value, (list, np.ndarray)):
            return value
        return _float32(super().to_python(value))


def _float32(vec: object) -> np.ndarray | None:
    """pgvector returns a list (text protocol) or a HalfVector (binary); both become float32."""
    if vec is None:
        return None
    return np.asarray(vec.to_list() if hasattr(vec, "to_list") else vec, dtype=np.float32)


class Artist(models.Model):
    name = models.CharField(max_length=255, unique=True, help_text="As written by WGA: 'ANGELICO, Fra'.")
    born_died = models.CharField(max_length=255, blank=True)
    # The surname words a description would use ("AACHEN, Hans von" -> "aachen"; ml.names.author_name_tokens),
    # matched by trigram against a query's capitalised words; kept by recommender.bm25.
    name_key = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # Trigram indexes: misspelt artist names still match ("Angelcio", "Honthors").
        indexes = [GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="artist_name_trgm"),
                   GinIndex(OpClass("name_key", name="gin_trgm_ops"), name="artist_name_key_trgm")]

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("artist_detail", args=[self.pk])

    @property
    def display_name(self) -> str:
        return display_author(self.name)


class Artwork(models.Model):
    class Source(models.TextChoices):
        CATALOGUE = "catalogue", "WGA catalogue"
        IMPORT = "import", "Image import"
        UPLOAD = "upload", "Curator upload"

    artist = models.ForeignKey(Artist, null=True, blank=True, on_delete=models.SET_NULL, related_name="artworks")
    title = models.CharField(max_length=500)
    date = models.CharField(max_length=100, blank=True)
    technique = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=500, blank=True)
    # The catalogue URL identifies a WGA row; uploads and plain image imports have none.
    url = models.URLField(max_length=500, unique=True, null=True, blank=True)
    form = models.CharField(max_length=64, blank=True, db_index=True)
    type = models.CharField(max_length=64, blank=True, db_index=True)
    school = models.CharField(max_length=64, blank=True, db_index=True)
    timeframe = models.CharField(max_length=32, blank=True, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CATALOGUE)
    # Weighted full-text document: title (A), artist (B), captions (C); kept current by the
    # caption services (recommender.captioning.search_vectors_refresh).
    search_vector = SearchVectorField(null=True, blank=True, editable=False)
    # Set when staff confirm this artwork as a duplicate: it then leaves recommendations and its
    # page points to the canonical artwork.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="artwork_search_gin"),
            GinIndex(OpClass(Upper("title"), name="gin_trgm_ops"), name="artwork_title_trgm"),
            # The few artworks that are not catalogue rows (image imports, uploads): the text search's
            # joint list starts from them instead of reading every image row.
            models.Index(fields=["source"], name="artwork_not_catalogue", condition=~Q(source="catalogue")),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("artwork_detail", args=[self.pk])

    @property
    def author_display(self) -> str:
        return self.artist.display_name if self.artist else ""


class ArtworkImage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        INDEXED = "indexed", "Indexed"
        FAILED = "failed", "Failed"

    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="images/", max_length=500)
    source_name = models.CharField(max_length=255, help_text="The original file name.")
    # Identical bytes are the same image: this keeps re-imports idempotent.
    sha256 = models.CharField(max_length=64, unique=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    embedding = HalfVectorField(dimensions=FEATURE_DIM, null=True, blank=True)
    model_version = models.CharField(max_length=120, blank=True, db_index=True)
    keypoints = models.BinaryField(null=True, blank=True, editable=False)
    n_keypoints = models.PositiveIntegerField(default=0)
    predictions = models.JSONField(default=dict, blank=True)
    # The image vector projected into the joint image/text space (ml.joint), for sentence queries.
    joint_embedding = VectorField(dimensions=JOINT_DIM, null=True, blank=True)
    joint_version = models.CharField(max_length=64, blank=True)
    # The image vector projected by the learned similarity (ml.similarity) that ranks "similar
    # artworks" when a projection is installed; empty when none is, or when the image's vector
    # comes from another model version than the one the projection was trained on.
    similar_embedding = HalfVectorField(dimensions=SIMILAR_DIM, null=True, blank=True)
    similar_version = models.CharField(max_length=64, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last processed it.")
    duplicates_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            HnswIndex(name="image_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["halfvec_cosine_ops"]),
            HnswIndex(name="image_joint_hnsw", fields=["joint_embedding"], m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
            HnswIndex(name="image_similar_hnsw", fields=["similar_embedding"], m=16, ef_construction=64,
                      opclasses=["halfvec_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return self.source_name


class ImageRegion(models.Model):
    """Regional descriptors of an indexed image (R-MAC grid of CAM-pooled conv5 regions).

    The global vector of a copy pasted into a bigger picture, or of a detail, is far from
    its original's; a region of one is close to the other's whole. The image shortlist
    searches these next to the global vectors. Replaced with the image's vector on every
    (re-)index, so they always share its model version.
    """

    image = models.ForeignKey(ArtworkImage, on_delete=models.CASCADE, related_name="regions")
    embedding = HalfVectorField(dimensions=FEATURE_DIM)

    class Meta:
        indexes = [
            HnswIndex(name="region_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["halfvec_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return f"region {self.pk} of image {self.image_id}"


class DuplicateScan(models.Model):
    """One run of the collection-wide duplicate scan (`find_duplicates`). An unfinished scan is
    resumed by the next one: only images not checked since `started_at` are checked again."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"scan of {self.started_at:%Y-%m-%d %H:%M}" + ("" if self.finished_at else " (unfinished)")


class DuplicatePair(models.Model):
    """A candidate pair found by the shortlist + rules, with its evidence. One row per
    unordered pair: image_a always has the smaller id (a check constraint keeps it so)."""

    class Verdict(models.TextChoices):
        DUPLICATE = "duplicate", "Duplicate"
        DETAIL = "detail", "Detail"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        SCAN = "scan", "Duplicate scan"
        UPLOAD = "upload", "Curator upload"
        REPORT = "report", "Visitor report"

    image_a = models.ForeignKey(ArtworkImage, on_delete=models.CASCADE, related_name="+")
    image_b = models.ForeignKey(ArtworkImage, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    cosine = models.FloatField()
    inliers = models.PositiveIntegerField(default=0)
    evidence = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SCAN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-inliers", "-cosine"]
        constraints = [
            models.UniqueConstraint(fields=["image_a", "image_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(image_a__lt=models.F("image_b")), name="duplicate_pair_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.image_a_id}~{self.image_b_id} ({self.verdict})"


class Upload(models.Model):
    """A curator's upload and where the workers are with it."""

    class Stage(models.TextChoices):
        QUEUED = "queued", "Queued"
        FEATURES = "features", "Computing features"
        KEYPOINTS = "keypoints", "Computing keypoints"
        DUPLICATES = "duplicates", "Checking for duplicates"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Decision(models.TextChoices):
        NONE = "", "No decision needed"
        PENDING = "pending", "Waiting for the curator"
        KEPT = "kept", "Kept as a new artwork"
        DUPLICATE = "duplicate", "Marked as a duplicate"
        WITHDRAWN = "withdrawn", "Withdrawn"

    artwork = models.ForeignKey(Artwork, null=True, on_delete=models.SET_NULL, related_name="uploads")
    image = models.ForeignKey(ArtworkImage, null=True, on_delete=models.SET_NULL, related_name="uploads")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="uploads")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    error = models.TextField(blank=True)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.NONE, blank=True)
    matches = models.JSONField(default=list, blank=True)
    batch = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.stage})"

    def get_absolute_url(self) -> str:
        return reverse("upload_status", args=[self.pk])


class AuditLog(models.Model):
    """Who did what to which object, and when (staff and curator actions)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=120, help_text="model:id")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"


class Caption(models.Model):
    """A text describing an artwork, from one source, with its sentence embedding."""

    class Source(models.TextChoices):
        CATALOGUE = "catalogue", "Catalogue metadata"
        COMMENTARY = "commentary", "WGA commentary"
        CURATOR = "curator", "Curator"
        MACHINE = "machine", "Machine"

    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="captions")
    source = models.CharField(max_length=16, choices=Source.choices)
    text = models.TextField()
    # Long commentaries are embedded in chunks; `chunk` numbers them (0 for short texts).
    chunk = models.PositiveSmallIntegerField(default=0)
    embedding = VectorField(dimensions=TEXT_DIM, null=True, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["artwork_id", "source", "chunk"]
        constraints = [
            models.UniqueConstraint(fields=["artwork", "source", "chunk"], name="caption_unique_chunk"),
        ]
        indexes = [
            HnswIndex(name="caption_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.text[:60]}"


class Lexeme(models.Model):
    """A full-text lexeme of the catalogue with its document frequency (BM25's idf, and the cap on
    very common query words). Maintained with the postings by recommender.bm25."""

    lexeme = models.TextField(primary_key=True)
    df = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.lexeme} ({self.df})"


class LexemePosting(models.Model):
    """One lexeme of one artwork's weighted tsvector: tf = 3·A + 2·B + 1·C occurrences (title,
    artist/school, captions) and the precomputed BM25 weight, so a query is a sum over postings."""

    pk = models.CompositePrimaryKey("lexeme", "artwork")
    lexeme = models.TextField()
    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="+")
    tf = models.FloatField()
    weight = models.FloatField()

    def __str__(self) -> str:
        return f"{self.lexeme} in #{self.artwork_id}: {self.weight:.3f}"


class TitleVector(models.Model):
    """One distinct artwork title with its multilingual sentence vector (ml.multilingual: e5, which
    reads the visitors' languages): the text search's title list finds the titles nearest a query
    and lists the artworks that carry them (joined on the title text). Built by `manage.py
    build_title_vectors`; a title no artwork carries any more is removed there."""

    title = models.CharField(max_length=500, unique=True)
    embedding = HalfVectorField(dimensions=MULTILINGUAL_DIM)
    model_version = models.CharField(max_length=120)

    class Meta:
        ordering = ["title"]
        indexes = [
            HnswIndex(name="title_vector_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["halfvec_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return self.title

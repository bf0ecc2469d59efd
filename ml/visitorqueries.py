"""Hand-written visitor queries: what a visitor types, in four kinds and six languages.

Kinds: ``known`` (a famous work described in other words), ``attribute`` (form, type, school,
material, place), ``subject`` (a story or theme told without its title words) and ``language``
(titles and subjects in Italian, French, German, Spanish or Dutch). Relevance is given by catalogue
predicates (`ml.textqueries.predicate_rows`) over the whole WGA catalogue, not by one URL: every
catalogue row of the work (its details too) or every work of the subject counts.

A predicate is a dict of conditions that must all hold (``author_contains``, ``title_contains``,
``location_contains``, ``technique_contains`` as accent- and case-insensitive substrings; ``form``,
``type``, ``school``, ``timeframe`` as equal values; a list value means all of its items); a
query's ``relevant_where`` lists alternatives (any one matching row is relevant).
"""

from __future__ import annotations

from typing import Any

P = dict[str, Any]


def _q(kind: str, lang: str, query: str, *preds: P) -> dict[str, Any]:
    return {"kind": kind, "lang": lang, "query": query, "relevant_where": list(preds)}


def _w(author: str, title: str) -> P:
    return {"author_contains": author, "title_contains": title}


def _t(title: str, **more: str) -> P:
    return {"title_contains": title, **more}


LAST_SUPPER = _w("LEONARDO", "Last Supper")
MONA_LISA = _w("LEONARDO", "Mona Lisa")
BIRTH_VENUS = _w("BOTTICELLI", "Birth of Venus")
PRIMAVERA = _w("BOTTICELLI", "Primavera")
PEARL = _w("VERMEER", "Pearl Earring")
MILKMAID = _w("VERMEER", "Milkmaid")
HUNTERS = _w("BRUEGEL, Pieter the Elder", "Hunters in the Snow")
BABEL = _w("BRUEGEL, Pieter the Elder", "Tower of Babel")
ADAM = _w("MICHELANGELO", "Creation of Adam")
ARNOLFINI = _w("EYCK, Jan van", "Arnolfini")
THIRD_MAY = _w("GOYA", "Third of May")
ATHENS = _w("RAFFAELLO", "School of Athens")
DELIGHTS = _w("BOSCH", "Earthly Delights")
TEMPEST = _w("GIORGIONE", "Tempest")
MATTHEW = _w("CARAVAGGIO", "Calling of Saint Matthew")
URBINO = _w("TIZIANO", "Venus of Urbino")
WANDERER = _w("FRIEDRICH, Caspar David", "Wanderer")
JEWISH_BRIDE = _w("REMBRANDT", "Jewish Bride")
MENINAS = _w("VELAZQUEZ", "Meninas")
GIOTTO_LAMENT = _w("GIOTTO", "Lamentation")
DAVID = {"author_contains": "MICHELANGELO", "title_contains": "David", "form": "sculpture"}

QUERIES: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- known works, other words (en)
    _q("known", "en", "Leonardo's painting of Jesus at the table with his twelve disciples", LAST_SUPPER),
    _q("known", "en", "the smiling Florentine lady by Leonardo in the Louvre", MONA_LISA),
    _q("known", "en", "Botticelli goddess standing on a seashell", BIRTH_VENUS),
    _q("known", "en", "Botticelli's allegory of spring with the three Graces in an orange grove", PRIMAVERA),
    _q("known", "en", "Vermeer girl with a blue and yellow turban and a pearl", PEARL),
    _q("known", "en", "Vermeer kitchen maid pouring milk", MILKMAID),
    _q("known", "en", "Bruegel winter landscape with hunters and dogs returning to the village", HUNTERS),
    _q("known", "en", "Bruegel huge unfinished tower reaching the clouds", BABEL),
    _q("known", "en", "God's finger almost touching the first man, Sistine ceiling", ADAM),
    _q("known", "en", "Jan van Eyck merchant couple with a convex mirror and a little dog", ARNOLFINI),
    _q("known", "en", "Goya firing squad executing Spanish rebels at night", THIRD_MAY),
    _q("known", "en", "Raphael fresco of Plato and Aristotle among the philosophers", ATHENS),
    _q("known", "en", "Bosch triptych of paradise, strange pleasures and hell", DELIGHTS),
    _q("known", "en", "Giorgione soldier and nursing woman under a stormy sky with lightning", TEMPEST),
    _q("known", "en", "Caravaggio: Christ points at a tax collector counting money at a table", MATTHEW),
    _q("known", "en", "Titian reclining nude with a small dog asleep at her feet", URBINO),
    _q("known", "en", "Caspar David Friedrich man seen from behind on a rock above a sea of fog", WANDERER),
    _q("known", "en", "Rembrandt's loving couple, his hand on her breast, in glowing red and gold", JEWISH_BRIDE),
    _q("known", "en", "Velázquez princess with her maids of honour and the painter at his easel", MENINAS),
    _q("known", "en", "Michelangelo's giant marble nude youth who killed Goliath", DAVID),
    # ---------------------------------------------------------------- attributes (en)
    _q("attribute", "en", "Dutch still life with flowers in a vase",
       {"type": "still-life", "school": "Dutch", "title_contains": "flower"}),
    _q("attribute", "en", "Flemish portrait of a man", {"type": "portrait", "school": "Flemish",
                                                        "title_contains": "man"}),
    _q("attribute", "en", "Venetian landscape painting", {"type": "landscape", "school": "Italian",
                                                          "title_contains": "Venice"}),
    _q("attribute", "en", "German woodcut of the Apocalypse", {"school": "German", "title_contains": "Apocalypse"}),
    _q("attribute", "en", "marble bust of a pope", {"form": "sculpture", "title_contains": "bust",
                                                    "technique_contains": "marble"}),
    _q("attribute", "en", "bronze equestrian statue", {"form": "sculpture", "title_contains": "equestrian"}),
    _q("attribute", "en", "stained glass window with a saint", {"form": "stained-glass"}),
    _q("attribute", "en", "illuminated manuscript book of hours", {"form": "illumination",
                                                                   "title_contains": "Hours"}),
    _q("attribute", "en", "gothic cathedral facade", {"form": "architecture", "title_contains": "facade"}),
    _q("attribute", "en", "tapestry with a hunting scene", {"form": "tapestry", "title_contains": "hunt"}),
    _q("attribute", "en", "Spanish religious painting of a saint in prayer",
       {"school": "Spanish", "type": "religious", "title_contains": "St"}),
    _q("attribute", "en", "French eighteenth-century portrait of a lady",
       {"school": "French", "type": "portrait", "title_contains": "Madame"},
       {"school": "French", "type": "portrait", "title_contains": "Lady"}),
    _q("attribute", "en", "winter landscape with skaters on a frozen river",
       {"type": "landscape", "title_contains": "ice"}, {"type": "landscape", "title_contains": "skat"},
       {"type": "landscape", "title_contains": "winter"}),
    _q("attribute", "en", "seascape with ships in a storm", {"title_contains": "storm", "type": "landscape"},
       {"title_contains": ["ship", "storm"]}),
    _q("attribute", "en", "Italian majolica plate", {"form": "ceramics", "school": "Italian"}),
    _q("attribute", "en", "ceiling fresco of a palace", {"title_contains": "ceiling", "form": "painting"}),
    _q("attribute", "en", "self-portrait of a painter", {"title_contains": "self-portrait"}),
    _q("attribute", "en", "golden mosaics in St Mark's basilica in Venice", {"form": "mosaic",
                                                                             "location_contains": "San Marco"}),
    _q("attribute", "en", "Renaissance altarpiece with the Virgin and saints",
       {"title_contains": ["Madonna", "Saints"], "type": "religious"},
       {"title_contains": "altarpiece", "type": "religious"}),
    _q("attribute", "en", "drawing of a horse", {"form": "graphics", "title_contains": "horse"}),
    # ---------------------------------------------------------------- subjects without title words (en)
    _q("subject", "en", "Mary Magdalene meets the risen Christ, who she takes for a gardener",
       _t("Noli me tangere")),
    _q("subject", "en", "Joseph, Mary and the infant fleeing Herod's soldiers on a donkey",
       _t("Flight into Egypt"), _t("Rest on the Flight")),
    _q("subject", "en", "the Virgin holding her dead son across her lap", _t("Piet")),
    _q("subject", "en", "the angel Gabriel tells the Virgin she will bear a son", _t("Annunciation")),
    _q("subject", "en", "three kings kneel to offer gold, frankincense and myrrh to the child",
       _t("Adoration of the Magi"), _t("Adoration of the Kings")),
    _q("subject", "en", "skull, hourglass and snuffed candle reminding us that life is short",
       _t("Vanitas")),
    _q("subject", "en", "a widow beheads the Assyrian general in his tent", _t("Judith")),
    _q("subject", "en", "two old men spy on a woman bathing in a garden", _t("Susanna")),
    _q("subject", "en", "the risen Jesus breaks bread and two travellers recognise him",
       _t("Emmaus")),
    _q("subject", "en", "Abraham about to kill his son when an angel stops his knife",
       _t("Sacrifice of Isaac"), _t("Abraham")),
    _q("subject", "en", "the young shepherd holding the giant's severed head", _t("Goliath"), _t("David")),
    _q("subject", "en", "Adam and Eve driven out of paradise by an angel with a sword",
       _t("Expulsion")),
    _q("subject", "en", "the young Roman soldier tied to a tree and shot with arrows", _t("Sebastian")),
    _q("subject", "en", "the saint in the desert beating his chest with a stone, a lion beside him",
       _t("Jerome")),
    _q("subject", "en", "John pours water over Jesus in the river Jordan", _t("Baptism of Christ")),
    _q("subject", "en", "the son who wasted his inheritance comes home to his father", _t("Prodigal")),
    _q("subject", "en", "the knight on horseback killing the dragon to save the princess", _t("George")),
    _q("subject", "en", "the apostle puts his finger in the wound in Christ's side",
       _t("Thomas"), _t("Incredulity")),
    _q("subject", "en", "Jesus turns water into wine at a wedding feast", _t("Cana")),
    _q("subject", "en", "the boy with wax wings falls into the sea after flying too near the sun",
       _t("Icarus")),
    # ---------------------------------------------------------------- other languages
    _q("language", "it", "L'Ultima Cena di Leonardo", LAST_SUPPER),
    _q("language", "it", "la Gioconda", MONA_LISA),
    _q("language", "it", "la nascita di Venere del Botticelli", BIRTH_VENUS),
    _q("language", "it", "la Scuola di Atene di Raffaello", ATHENS),
    _q("language", "it", "la Creazione di Adamo nella Cappella Sistina", ADAM),
    _q("language", "it", "la Tempesta di Giorgione", TEMPEST),
    _q("language", "it", "la Vocazione di San Matteo del Caravaggio", MATTHEW),
    _q("language", "it", "fuga in Egitto", _t("Flight into Egypt"), _t("Rest on the Flight")),
    _q("language", "it", "Compianto sul Cristo morto di Giotto", GIOTTO_LAMENT),
    _q("language", "it", "Giuditta che decapita Oloferne", _t("Judith")),
    _q("language", "it", "natura morta con fiori", {"type": "still-life", "title_contains": "flower"}),
    _q("language", "fr", "La Cène de Léonard de Vinci", LAST_SUPPER),
    _q("language", "fr", "la Joconde", MONA_LISA),
    _q("language", "fr", "La Naissance de Vénus de Botticelli", BIRTH_VENUS),
    _q("language", "fr", "La Jeune Fille à la perle de Vermeer", PEARL),
    _q("language", "fr", "La Laitière de Vermeer", MILKMAID),
    _q("language", "fr", "La Tour de Babel de Bruegel", BABEL),
    _q("language", "fr", "les Époux Arnolfini", ARNOLFINI),
    _q("language", "fr", "le Jardin des délices de Jérôme Bosch", DELIGHTS),
    _q("language", "fr", "la Fuite en Égypte", _t("Flight into Egypt"), _t("Rest on the Flight")),
    _q("language", "fr", "nature morte aux fleurs", {"type": "still-life", "title_contains": "flower"}),
    _q("language", "fr", "l'Annonciation", _t("Annunciation")),
    _q("language", "de", "Das letzte Abendmahl von Leonardo da Vinci", LAST_SUPPER),
    _q("language", "de", "Die Geburt der Venus", BIRTH_VENUS),
    _q("language", "de", "Das Mädchen mit dem Perlenohrgehänge", PEARL),
    _q("language", "de", "Die Jäger im Schnee", HUNTERS),
    _q("language", "de", "Der Turmbau zu Babel", BABEL),
    _q("language", "de", "Der Wanderer über dem Nebelmeer", WANDERER),
    _q("language", "de", "Die Erschaffung Adams", ADAM),
    _q("language", "de", "Die Judenbraut von Rembrandt", JEWISH_BRIDE),
    _q("language", "de", "Beweinung Christi", _t("Lamentation")),
    _q("language", "de", "Anbetung der Heiligen Drei Könige", _t("Adoration of the Magi"),
       _t("Adoration of the Kings")),
    _q("language", "de", "Stillleben mit Blumen", {"type": "still-life", "title_contains": "flower"}),
    _q("language", "es", "La Última Cena de Leonardo", LAST_SUPPER),
    _q("language", "es", "Las Meninas de Velázquez", MENINAS),
    _q("language", "es", "Los fusilamientos del tres de mayo de Goya", THIRD_MAY),
    _q("language", "es", "El nacimiento de Venus", BIRTH_VENUS),
    _q("language", "es", "El jardín de las delicias del Bosco", DELIGHTS),
    _q("language", "es", "La joven de la perla", PEARL),
    _q("language", "es", "La Venus de Urbino de Tiziano", URBINO),
    _q("language", "es", "La creación de Adán de Miguel Ángel", ADAM),
    _q("language", "es", "la huida a Egipto", _t("Flight into Egypt"), _t("Rest on the Flight")),
    _q("language", "es", "la Anunciación", _t("Annunciation")),
    _q("language", "es", "bodegón con flores", {"type": "still-life", "title_contains": "flower"}),
    _q("language", "nl", "Het laatste avondmaal van Leonardo", LAST_SUPPER),
    _q("language", "nl", "Het Meisje met de parel", PEARL),
    _q("language", "nl", "Het Melkmeisje van Vermeer", MILKMAID),
    _q("language", "nl", "Het Joodse bruidje van Rembrandt", JEWISH_BRIDE),
    _q("language", "nl", "De jagers in de sneeuw", HUNTERS),
    _q("language", "nl", "De toren van Babel", BABEL),
    _q("language", "nl", "Het Arnolfini-portret", ARNOLFINI),
    _q("language", "nl", "De Tuin der Lusten van Jheronimus Bosch", DELIGHTS),
    _q("language", "nl", "De geboorte van Venus", BIRTH_VENUS),
    _q("language", "nl", "De vlucht naar Egypte", _t("Flight into Egypt"), _t("Rest on the Flight")),
    _q("language", "nl", "stilleven met bloemen", {"type": "still-life", "title_contains": "flower"}),
]

# Written after ml/vocabulary.py was frozen (commit 6e62f89), without editing it afterwards: a check
# of how the vocabulary carries to phrasings and subjects it was not tuned on (some of these subjects
# are not in it at all). `python -m ml.textqueries --set visitor-heldout`.
HELDOUT: list[dict[str, Any]] = [
    _q("subject", "en", "Mary visits her cousin Elizabeth, both of them pregnant", _t("Visitation")),
    _q("subject", "en", "the god of the forge catches his wife with the god of war", _t("Vulcan"),
       _t("Mars and Venus")),
    _q("subject", "en", "a Trojan priest and his sons strangled by sea serpents", _t("Laoco")),
    _q("subject", "en", "Zeus disguised as a white bull carries off a princess", _t("Europa")),
    _q("subject", "en", "the strong man whose hair is cut while he sleeps", _t("Samson")),
    _q("subject", "en", "the prophet thrown overboard and swallowed by a great fish", _t("Jonah")),
    _q("subject", "en", "the animals enter the ark two by two", _t("Noah")),
    _q("subject", "en", "the apostles receive the Holy Spirit as tongues of fire", _t("Pentecost")),
    _q("subject", "en", "the evangelist painting a portrait of the Virgin", _t("Luke")),
    _q("subject", "en", "the murdered revolutionary in his bathtub", _w("DAVID, Jacques-Louis", "Marat")),
    _q("known", "en", "Millet peasants praying in a field at dusk", _w("MILLET", "Angelus")),
    _q("known", "en", "Rembrandt surgeon dissecting an arm before a group of doctors",
       _w("REMBRANDT", "Anatomy")),
    _q("language", "it", "la Visitazione", _t("Visitation")),
    _q("language", "it", "il Giudizio Universale di Michelangelo", _w("MICHELANGELO", "Last Judgment")),
    _q("language", "it", "Sansone e Dalila", _t("Samson")),
    _q("language", "it", "Marte e Venere", _t("Mars and Venus")),
    _q("language", "it", "la Crocifissione", _t("Crucifixion")),
    _q("language", "fr", "le Jugement de Pâris", _t("Judgment of Paris")),
    _q("language", "fr", "l'Enlèvement d'Europe", _t("Europa")),
    _q("language", "fr", "la Mort de Marat", _w("DAVID, Jacques-Louis", "Marat")),
    _q("language", "fr", "L'Angélus de Millet", _w("MILLET", "Angelus")),
    _q("language", "fr", "la Pentecôte", _t("Pentecost")),
    _q("language", "de", "Die Heimsuchung Mariä", _t("Visitation")),
    _q("language", "de", "Das Jüngste Gericht", _t("Last Judgment")),
    _q("language", "de", "Die Himmelfahrt Christi", _t("Ascension")),
    _q("language", "de", "Die Geburt Mariens", _t("Birth of the Virgin")),
    _q("language", "de", "Kain und Abel", _t("Cain")),
    _q("language", "es", "El Juicio Final", _t("Last Judgment")),
    _q("language", "es", "Salomé con la cabeza del Bautista", _t("Salome")),
    _q("language", "es", "la Crucifixión", _t("Crucifixion")),
    _q("language", "es", "el nacimiento de la Virgen", _t("Birth of the Virgin")),
    _q("language", "es", "el arca de Noé", _t("Noah")),
    _q("language", "nl", "Het Laatste Oordeel", _t("Last Judgment")),
    _q("language", "nl", "De Kruisiging", _t("Crucifixion")),
    _q("language", "nl", "Simson en Delila", _t("Samson")),
    _q("language", "nl", "De anatomische les van Dr. Tulp", _w("REMBRANDT", "Anatomy")),
    _q("language", "nl", "Het oordeel van Paris", _t("Judgment of Paris")),
]

# A second held-out set, written before the ranking changes of issue 15 (query-side subject matching,
# concurrency) and committed before any of them was tuned; never edited afterwards. It leans on what
# the first held-out set found weak: English stories told in other words (many of their subjects are
# not in ml/vocabulary.py at all) and famous works described without their title's words, plus
# attributes and stories in the five other languages. `python -m ml.textqueries --set visitor-heldout2`.
_SACRIFICE_ISAAC = (_t("Sacrifice of Isaac"), _t("Sacrifice of Abraham"), _t("Abraham and Isaac"))
_TEMPLE_MERCHANTS = (_t("Money-changers"), _t("Moneylenders"), _t("Merchants from the Temple"),
                     _t("Purification of the Temple"), _t("Cleansing"))
_PETER_FREED = (_t("Liberation of St Peter"), _t("Deliverance of St Peter"), _t("Peter Freed"))
_PROSERPINA = (_t("Proserpin"), _t("Persephone"))
_STEPHEN = (_t("Stoning of St Stephen"), _t("Martyrdom of St Stephen"))
_EQUESTRIAN = ({"title_contains": "Equestrian", "type": "portrait"},
               {"title_contains": "on Horseback", "type": "portrait"})
_THOMAS = (_t("Incredulity"), _t("Doubting"))
ERMINE = _w("LEONARDO", "Ermine")
MANTEGNA_CHRIST = _w("MANTEGNA", "Dead Christ")
SATURN = _w("GOYA", "Saturn")
MEDUSA_RAFT = _w("GERICAULT", "Medusa")
LIBERTY = _w("DELACROIX", "Liberty")
SWING = _w("FRAGONARD", "Swing")
AMBASSADORS = _w("HOLBEIN", "Ambassadors")
BLIND = _w("BRUEGEL, Pieter the Elder", "Blind")
TEMERAIRE = _w("TURNER", "Temeraire")
GLEANERS = _w("MILLET", "Gleaners")
TERESA = _w("BERNINI", "Ecstasy")
HAY_WAIN = _w("CONSTABLE", "Hay")
BREDA = _w("VELAZQUEZ", "Breda")
GHENT_LAMB = _w("EYCK, Jan van", "Lamb")
DELFT = _w("VERMEER", "Delft")
LITTLE_STREET = _w("VERMEER", "Street")
DURER_KNIGHT = _w("DURER", "Knight, Death")
PRODIGAL_REMBRANDT = _w("REMBRANDT", "Prodigal")
SAMPLING = _w("REMBRANDT", "Sampling Officials")

HELDOUT2: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- stories in other words (en)
    _q("subject", "en", "an old man raises a knife over his bound son and an angel grabs his arm", *_SACRIFICE_ISAAC),
    _q("subject", "en", "a hunter who saw the goddess bathing and was turned into a stag", _t("Actaeon")),
    _q("subject", "en", "the musician who went down to the underworld to bring his dead wife back", _t("Orpheus")),
    _q("subject", "en", "a Roman noblewoman stabs herself after she was dishonoured", _t("Lucretia")),
    _q("subject", "en", "Jesus overturning the tables and whipping the traders out of the holy place",
       *_TEMPLE_MERCHANTS),
    _q("subject", "en", "the first Christian martyr killed by a crowd throwing rocks", *_STEPHEN),
    _q("subject", "en", "the deacon saint roasted alive on a gridiron", _t("Martyrdom of St Lawrence")),
    _q("subject", "en", "the prophet thrown to the lions and left unharmed", _t("Daniel")),
    _q("subject", "en", "Abraham's servant and her boy sent away into the desert", _t("Hagar")),
    _q("subject", "en", "an Egyptian officer's wife grabs the young man's cloak as he runs away", _t("Potiphar")),
    _q("subject", "en", "the Jewish queen who pleads with the Persian king to save her people", _t("Esther")),
    _q("subject", "en", "the disciples panic in a boat on rough waves while Jesus sleeps",
       _t("Storm on the Sea of Galilee")),
    _q("subject", "en", "Saint Anne teaching her little daughter to read", _t("Education of the Virgin")),
    _q("subject", "en", "an angel leads the apostle out of his prison cell past the sleeping guards", *_PETER_FREED),
    _q("subject", "en", "Roman soldiers carry off the women of a neighbouring people", _t("Sabine")),
    _q("subject", "en", "the goddess of love begs her young hunter not to leave for the chase", _t("Venus and Adonis")),
    _q("subject", "en", "the king of the dead carries off a girl who was picking flowers", *_PROSERPINA),
    _q("subject", "en", "Peter finds a coin in a fish's mouth to pay the tax", _t("Tribute Money")),
    # ---------------------------------------------------------------- famous works without their title words (en)
    _q("known", "en", "Leonardo's young woman holding a white furry animal", ERMINE),
    _q("known", "en", "Mantegna's foreshortened corpse of Jesus seen from the feet", MANTEGNA_CHRIST),
    _q("known", "en", "Goya's dark picture of a giant god eating his child", SATURN),
    _q("known", "en", "Géricault's shipwreck survivors adrift on a makeshift boat", MEDUSA_RAFT),
    _q("known", "en", "Delacroix: a bare-breasted woman waving the tricolour over a barricade", LIBERTY),
    _q("known", "en", "Fragonard's girl in a pink dress kicking off her shoe on a garden seat hanging from a tree",
       SWING),
    _q("known", "en", "Holbein's two envoys with a stretched skull on the floor", AMBASSADORS),
    _q("known", "en", "Bruegel's sightless beggars tumbling one after another into a ditch", BLIND),
    _q("known", "en", "Turner: an old warship towed by a steam tug at sunset", TEMERAIRE),
    _q("known", "en", "Millet's three peasant women bending to pick up leftover grain", GLEANERS),
    _q("known", "en", "Bernini's marble nun swooning as an angel aims a golden arrow at her", TERESA),
    _q("known", "en", "Constable's farm cart crossing a shallow river beside a cottage", HAY_WAIN),
    # ---------------------------------------------------------------- attributes (all six languages)
    _q("attribute", "en", "painted portrait of a Venetian doge", {"type": "portrait", "title_contains": "Doge"}),
    _q("attribute", "en", "marble tomb monument of a pope", _t("Tomb of Pope")),
    _q("attribute", "it", "busto in marmo di un papa", {"type": "portrait", "title_contains": "Pope"}),
    _q("attribute", "fr", "paysage d'hiver hollandais avec des patineurs sur la glace",
       {"school": "Dutch", "title_contains": "Skat"}, {"school": "Dutch", "title_contains": "Winter"}),
    _q("attribute", "de", "Stillleben mit Totenschädel", {"type": "still-life", "title_contains": "Skull"},
       {"type": "still-life", "title_contains": "Vanitas"}),
    _q("attribute", "es", "retrato ecuestre de un rey a caballo", *_EQUESTRIAN),
    _q("attribute", "nl", "zeeslag met zeilschepen", _t("Sea Battle"), _t("Naval Battle")),
    # ---------------------------------------------------------------- stories told in the other languages
    _q("subject", "fr", "le jeune berger qui tue le géant avec sa fronde", _t("Goliath")),
    _q("subject", "it", "il santo legato a un albero e trafitto dalle frecce", _t("Sebastian")),
    _q("subject", "de", "der Heilige, der seinen Mantel mit einem Bettler teilt", _t("St Martin")),
    _q("subject", "es", "la viuda que corta la cabeza del general dormido", _t("Judith")),
    _q("subject", "nl", "de engel die de herders in het veld het nieuws brengt",
       _t("Annunciation to the Shepherds")),
    _q("subject", "it", "l'apostolo che mette il dito nella ferita di Cristo", *_THOMAS),
    _q("subject", "fr", "le dieu changé en cygne qui séduit une reine", _t("Leda")),
    _q("subject", "de", "der Riese, der das Jesuskind durch den Fluss trägt", _t("Christopher")),
    _q("subject", "es", "el hijo que vuelve a casa arruinado y su padre lo abraza", _t("Prodigal")),
    _q("subject", "nl", "de nimf die in een laurierboom verandert terwijl de zonnegod haar achtervolgt",
       _t("Daphne")),
    # ---------------------------------------------------------------- titles in the other languages
    _q("language", "it", "La zattera della Medusa", MEDUSA_RAFT),
    _q("language", "it", "Il ratto delle Sabine", _t("Sabine")),
    _q("language", "it", "La Dama con l'ermellino di Leonardo", ERMINE),
    _q("language", "fr", "Le Radeau de la Méduse", MEDUSA_RAFT),
    _q("language", "fr", "La Liberté guidant le peuple", LIBERTY),
    _q("language", "fr", "Les Glaneuses de Millet", GLEANERS),
    _q("language", "de", "Die Gesandten von Holbein", AMBASSADORS),
    _q("language", "de", "Die Anbetung des Lammes der Brüder van Eyck", GHENT_LAMB),
    _q("language", "de", "Die Rückkehr des verlorenen Sohnes von Rembrandt", PRODIGAL_REMBRANDT),
    _q("language", "es", "La rendición de Breda", BREDA),
    _q("language", "es", "Saturno devorando a su hijo", SATURN),
    _q("language", "es", "El caballero, la muerte y el diablo de Durero", DURER_KNIGHT),
    _q("language", "nl", "Gezicht op Delft", DELFT),
    _q("language", "nl", "Het straatje van Vermeer", LITTLE_STREET),
    _q("language", "nl", "De Staalmeesters van Rembrandt", SAMPLING),
]

"""A small iconographic vocabulary for query expansion (framework-free, no model).

WGA titles name subjects in English ("Noli me tangere", "Flight into Egypt", "Last Supper"); visitors
type them in their own language ("L'Ultima Cena", "La Fuite en Égypte") or tell the story instead
("Mary Magdalene takes the risen Christ for a gardener"). Each entry maps the subject's names in
Italian, French, German, Spanish and Dutch (`names`) and short English descriptions of the story
(`cues`: every word stem of one cue must occur in the query) to the English title words WGA uses
(`titles`). Famous works with a popular name ("La Gioconda") are entries too, and a list of artists'
exonyms ("Léonard de Vinci", "Tiziano", "El Bosco") maps to the catalogue's names. Iconclass is the
model for the subjects; this list is a hand-made sample of it, not a copy.

`expand(query)` returns the titles and artists the query names; `recommender.text_search` searches
titles with them as one more ranked list and adds them to the words the other lists read.
A title word is matched at the start of a title word ("Magdalen" finds "Magdalene"). Cost: 576
substring tests on the folded query and 278 cues looked up in the set of its word prefixes (~2 ms for
a 70-word description on the busy 2-core machine).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["ARTISTS", "SUBJECTS", "Expansion", "Subject", "expand", "fold"]


@dataclass(frozen=True)
class Subject:
    titles: tuple[str, ...]  # English title words as WGA writes them (any one matches a title)
    names: tuple[str, ...] = ()  # the subject's name in other languages (and English variants)
    cues: tuple[tuple[str, ...], ...] = ()  # story descriptions: every stem of one cue must occur
    artist: str = ""  # for a single famous work: the catalogue artist it belongs to


def _s(titles: str, names: str = "", cues: str = "", artist: str = "") -> Subject:
    """Compact entry: alternatives separated by "|", a cue's stems by spaces."""
    return Subject(
        titles=tuple(t.strip() for t in titles.split("|") if t.strip()),
        names=tuple(n.strip() for n in names.split("|") if n.strip()),
        cues=tuple(tuple(c.split()) for c in cues.split("|") if c.strip()),
        artist=artist,
    )


SUBJECTS: tuple[Subject, ...] = (
    # ------------------------------------------------------------------ Christ and the Virgin
    _s("Annunciation", "annunciazione|annunciata|annonciation|verkundigung|anunciacion|annunciatie|"
       "boodschap aan maria", "gabriel virgin|angel virgin bear son|angel announc"),
    _s("Visitation", "visitazione|visitation|heimsuchung|visitacion|visitatie", "mary visit elizabeth"),
    _s("Nativity|Adoration of the Shepherds", "nativita|presepe|nativite|creche|geburt christi|natividad|"
       "nacimiento de cristo|geboorte van christus|kerststal|adorazione dei pastori|adoration des bergers|"
       "anbetung der hirten|adoracion de los pastores|aanbidding der herders", "shepherds manger|born stable"),
    _s("Adoration of the Magi|Adoration of the Kings", "adorazione dei magi|adoration des mages|"
       "anbetung der heiligen drei konige|anbetung der konige|adoracion de los magos|adoracion de los reyes|"
       "aanbidding der koningen|aanbidding van de wijzen", "three kings|magi|gold frankincense myrrh|"
       "kings kneel child|wise men"),
    _s("Presentation in the Temple", "presentazione al tempio|presentation au temple|darstellung im tempel|"
       "presentacion en el templo|opdracht in de tempel", "simeon child temple"),
    _s("Massacre of the Innocents", "strage degli innocenti|massacre des innocents|bethlehemitischer kindermord|"
       "kindermord|matanza de los inocentes|kindermoord", "herod soldiers kill babies|herod slaughter"),
    _s("Flight into Egypt|Rest on the Flight", "fuga in egitto|fuite en egypte|flucht nach agypten|"
       "ruhe auf der flucht|huida a egipto|huida de egipto|vlucht naar egypte|rust op de vlucht",
       "flee herod|fleeing herod|donkey herod|escape egypt|flee egypt|holy family donkey"),
    _s("Baptism of Christ", "battesimo di cristo|bapteme du christ|taufe christi|bautismo de cristo|"
       "doop van christus", "john water jesus|river jordan|baptis jesus|baptis christ"),
    _s("Temptation of Christ", "tentazioni di cristo|tentation du christ|versuchung christi|"
       "tentaciones de cristo|verzoeking van christus", "devil tempt christ|devil tempt jesus"),
    _s("Marriage at Cana|Wedding at Cana", "nozze di cana|noces de cana|hochzeit zu kana|bodas de cana|"
       "bruiloft te kana", "water wine wedding|water into wine"),
    _s("Calling of", "vocazione|vocation de saint|berufung|vocacion|roeping", "tax collector|"
       "christ point collector"),
    _s("Raising of Lazarus", "resurrezione di lazzaro|resurrection de lazare|auferweckung des lazarus|"
       "resurreccion de lazaro|opwekking van lazarus", "lazarus tomb|raise dead friend"),
    _s("Transfiguration", "trasfigurazione|transfiguration|verklarung christi|transfiguracion|"
       "transfiguratie|gedaanteverandering", "christ mountain light moses elijah"),
    _s("Last Supper", "ultima cena|cenacolo|la cene|letzte abendmahl|abendmahl|santa cena|laatste avondmaal|"
       "avondmaal", "disciples table|apostles table|twelve disciples|twelve apostles|apostles supper|"
       "disciples supper|last meal|one of you will betray"),
    _s("Washing of the Feet|Christ Washing", "lavanda dei piedi|lavement des pieds|fusswaschung|"
       "lavatorio|voetwassing", "wash feet disciples|wash apostles feet"),
    _s("Agony in the Garden|Christ on the Mount of Olives", "orazione nell'orto|agonie dans le jardin|"
       "christ au mont des oliviers|olberg|oracion en el huerto|hof van olijven", "praying garden gethsemane|"
       "gethsemane|disciples asleep pray"),
    _s("Kiss of Judas|Betrayal|Arrest of Christ", "bacio di giuda|baiser de judas|judaskuss|beso de judas|"
       "judaskus", "judas kiss|judas betray"),
    _s("Flagellation", "flagellazione|flagellation|geisselung|flagelacion|geseling", "christ whipped|"
       "column scourg|scourg christ"),
    _s("Crowning with Thorns", "incoronazione di spine|couronnement d'epines|dornenkronung|coronacion de espinas|"
       "doornenkroning", "crown thorns"),
    _s("Ecce Homo", "ecce homo", "pilate show christ crowd"),
    _s("Christ Carrying the Cross|Road to Calvary", "salita al calvario|andata al calvario|portement de croix|"
       "kreuztragung|camino del calvario|cristo con la cruz|kruisdraging", "carry cross|carrying cross|"
       "road calvary"),
    _s("Crucifixion", "crocifissione|crocifisso|crucifixion|kreuzigung|crucifixion|kruisiging", "nailed cross|"
       "christ cross dying|dies cross"),
    _s("Deposition|Descent from the Cross", "deposizione dalla croce|descente de croix|kreuzabnahme|"
       "descendimiento|kruisafneming|afneming", "taken down cross|lowered cross|body taken down"),
    _s("Lamentation|Mourning of Christ", "compianto|lamentation|beweinung|llanto sobre cristo|"
       "lamentacion|bewening", "mourn dead christ|mourn dead jesus|weep over dead christ|grieve dead christ"),
    _s("Pietà|Pieta", "pieta|vesperbild|piedad", "dead son lap|dead christ lap|virgin lap dead|mother dead son|"
       "mother holding dead"),
    _s("Entombment", "deposizione nel sepolcro|sepoltura di cristo|mise au tombeau|grablegung|santo entierro|"
       "graflegging", "laid in tomb|christ tomb bur|body tomb"),
    _s("Resurrection", "resurrezione|resurrection|auferstehung|resurreccion|verrijzenis|opstanding",
       "christ rise tomb|rises from tomb"),
    _s("Noli me tangere", "noli me tangere|ne me touche pas|non mi toccare|ruhr mich nicht an|no me toques|"
       "raak mij niet aan|raak me niet aan", "magdalen gardener|magdalen risen|mary gardener risen"),
    _s("Supper at Emmaus|Emmaus", "cena in emmaus|pelerins d'emmaus|emmausmahl|emmaus|cena de emaus|"
       "emmausgangers", "break bread recognis|breaks bread|two travel|disciples recognis risen"),
    _s("Incredulity|Doubting Thomas|Thomas", "incredulita di san tommaso|incredulite de saint thomas|"
       "unglaubige thomas|unglaubige thomas|incredulidad de santo tomas|ongelovige thomas",
       "finger wound|doubting|touch wound"),
    _s("Ascension", "ascensione|ascension du christ|himmelfahrt christi|ascension de cristo|hemelvaart",
       "christ rises heaven|christ ascend"),
    _s("Pentecost", "pentecoste|pentecote|pfingsten|pentecostes|pinksteren", "holy spirit tongues fire"),
    _s("Dormition|Death of the Virgin", "dormizione|transito della vergine|dormition|mort de la vierge|"
       "marientod|tod mariens|muerte de la virgen|dood van maria", "virgin dies apostles|death virgin"),
    _s("Assumption", "assunzione|assunta|assomption|maria himmelfahrt|himmelfahrt mariens|asuncion|"
       "tenhemelopneming", "virgin taken heaven|virgin rises heaven"),
    _s("Coronation of the Virgin", "incoronazione della vergine|couronnement de la vierge|marienkronung|"
       "coronacion de la virgen|kroning van maria", "virgin crowned|crowning virgin"),
    _s("Madonna and Child|Virgin and Child", "madonna col bambino|madonna con bambino|vierge a l'enfant|"
       "madonna mit kind|maria mit kind|virgen con el nino|madonna met kind|maria met kind",
       "mother holding baby jesus|virgin holding child"),
    _s("Holy Family", "sacra famiglia|sainte famille|heilige familie|sagrada familia", "joseph mary child"),
    _s("Last Judgment", "giudizio universale|jugement dernier|jungste gericht|weltgericht|juicio final|"
       "laatste oordeel", "end of the world judge|souls heaven hell|damned blessed"),
    _s("Sermon on the Mount", "discorso della montagna|sermon sur la montagne|bergpredigt|sermon de la montana|"
       "bergrede", "christ preach mountain"),
    _s("Christ and the Adulteress|Woman Taken in Adultery", "adultera|femme adultere|ehebrecherin|adultera|"
       "overspelige vrouw", "let him who is without sin|adulter stone"),
    _s("Prodigal", "figliol prodigo|figliuol prodigo|fils prodigue|verlorene sohn|hijo prodigo|verloren zoon",
       "wasted inheritance|son returns father|son comes home father|squandered"),
    _s("Good Samaritan", "buon samaritano|bon samaritain|barmherzige samariter|buen samaritano|"
       "barmhartige samaritaan", "traveller robbed helped|wounded man road helped"),
    _s("Miraculous Draught of Fishes", "pesca miracolosa|peche miraculeuse|fischzug|pesca milagrosa|"
       "wonderbare visvangst", "nets full fish|miracle fish"),
    # ------------------------------------------------------------------ Old Testament and Apocrypha
    _s("Creation", "creazione del mondo|creation du monde|erschaffung der welt|creacion del mundo|schepping",
       "god creates world|god separat light"),
    _s("Creation of Adam|Adam", "creazione di adamo|creation d'adam|erschaffung adams|creacion de adan|"
       "schepping van adam", "finger first man|god first man|god touch adam|god gives life adam"),
    _s("Adam and Eve|Fall of Man|Original Sin", "peccato originale|peche originel|sundenfall|pecado original|"
       "zondeval|adamo ed eva|adam et eve|adan y eva", "serpent apple|eve apple|forbidden fruit"),
    _s("Expulsion", "cacciata|expulsion du paradis|vertreibung aus dem paradies|expulsion del paraiso|"
       "verdrijving uit het paradijs", "driven out paradise|driven paradise|expelled paradise|"
       "adam eve angel sword|leave eden"),
    _s("Cain and Abel|Cain", "caino e abele|cain et abel|kain und abel|cain y abel|kain en abel",
       "brother kill brother|first murder"),
    _s("Noah|Flood|Deluge", "diluvio|deluge|sintflut|diluvio universal|zondvloed|arca di noe|arche de noe|"
       "arche noah|arca de noe|ark van noach", "ark animals|great flood"),
    _s("Tower of Babel", "torre di babele|tour de babel|turmbau zu babel|turm zu babel|torre de babel|"
       "toren van babel", "tower reach heaven|tower clouds|unfinished tower|tower confusion languages"),
    _s("Sacrifice of Isaac|Abraham", "sacrificio di isacco|sacrifice d'isaac|opferung isaaks|sacrificio de isaac|"
       "offer van isaak|offering van isaak", "abraham son knife|abraham kill son|angel stop knife|"
       "abraham angel"),
    _s("Lot and his Daughters|Lot", "lot e le figlie|loth et ses filles|lot und seine tochter|"
       "lot y sus hijas|lot en zijn dochters", "daughters drunk father|sodom daughters"),
    _s("Jacob's Dream|Jacob's Ladder", "sogno di giacobbe|songe de jacob|jakobs traum|jakobsleiter|"
       "sueno de jacob|jakobs droom|jakobsladder", "ladder angels heaven"),
    _s("Moses", "mose|moise|mosè|moses|moises|mozes", "burning bush|tablets law|parting red sea|ten commandments"),
    _s("Goliath|David", "davide e golia|david et goliath|david und goliath|david y goliat|david en goliath|"
       "golia|goliath|goliat", "shepherd giant|giant head|killed goliath|"
       "sling stone giant|giant's head"),
    _s("Bathsheba", "betsabea|bethsabee|bathseba|betsabe|batseba", "king david woman bath|david watch bath"),
    _s("Judith", "giuditta|judith|judit|oloferne|holopherne|holofernes", "behead general|beheads general|"
       "widow assyrian|holofernes|head general tent"),
    _s("Susanna", "susanna e i vecchioni|suzanne et les vieillards|susanna im bade|susanna und die alten|"
       "susana y los viejos|susanna en de ouderlingen", "elders bath|old men bath|men spy woman bath|"
       "elders spy"),
    _s("Tobias|Tobit", "tobiolo|tobia|tobie|tobias|tobit", "boy angel fish|young man angel fish"),
    _s("Jonah", "giona|jonas|jona", "swallowed whale|whale prophet"),
    _s("Samson", "sansone|samson|simson|sanson", "delilah hair|lion jaws strength"),
    _s("Salome", "salome|salomé", "head of john platter|dancer head baptist|head baptist"),
    # ------------------------------------------------------------------ saints
    _s("Jerome", "san girolamo|saint jerome|heiliger hieronymus|hl. hieronymus|san jeronimo|"
       "heilige hieronymus", "desert lion|beating chest stone|saint lion study|penitent stone"),
    _s("Sebastian", "san sebastiano|saint sebastien|heiliger sebastian|san sebastian|heilige sebastiaan",
       "tied tree arrows|pierced arrows|shot arrows|soldier arrows"),
    _s("George", "san giorgio|saint georges|heiliger georg|san jorge|sint-joris|sint joris",
       "knight dragon|dragon princess|kill dragon"),
    _s("Francis", "san francesco|saint francois|heiliger franziskus|san francisco|sint-franciscus",
       "stigmata|preach birds|receives wounds"),
    _s("Magdalen|Magdalene", "maddalena|madeleine|magdalena|maria magdalena", "penitent woman long hair"),
    _s("Anthony", "sant'antonio|saint antoine|heiliger antonius|san anton|san antonio|sint-antonius",
       "temptation demons hermit|hermit demons"),
    _s("Catherine", "santa caterina|sainte catherine|heilige katharina|santa catalina|heilige catharina",
       "broken wheel saint|mystic marriage"),
    _s("Martin", "san martino|saint martin|heiliger martin|san martin|sint-maarten", "cloak beggar|"
       "shares cloak|cuts cloak"),
    _s("Conversion of", "conversione di san paolo|conversion de saint paul|bekehrung des paulus|"
       "conversion de san pablo|bekering van paulus", "fall from horse blinded|saul blinded"),
    _s("Christopher", "san cristoforo|saint christophe|heiliger christophorus|san cristobal|"
       "sint-christoffel", "giant carries child river|carries christ child across river"),
    # ------------------------------------------------------------------ myths and allegories
    _s("Birth of Venus", "nascita di venere|naissance de venus|geburt der venus|nacimiento de venus|"
       "geboorte van venus", "venus shell|goddess shell|goddess seashell|venus seashell|goddess born sea",
       "BOTTICELLI"),
    _s("Primavera|Allegory of Spring", "primavera|allegoria della primavera|le printemps|der fruhling",
       "allegory spring three graces|spring orange grove|three graces orange"),
    _s("Judgment of Paris", "giudizio di paride|jugement de paris|urteil des paris|juicio de paris|"
       "oordeel van paris", "three goddesses apple|paris apple goddess"),
    _s("Leda", "leda", "swan queen|swan woman"),
    _s("Europa", "ratto d'europa|enlevement d'europe|raub der europa|rapto de europa|ontvoering van europa",
       "bull princess sea|white bull carries"),
    _s("Danaë|Danae", "danae", "golden rain|shower of gold"),
    _s("Apollo and Daphne", "apollo e dafne|apollon et daphne|apoll und daphne|apolo y dafne|apollo en dafne",
       "nymph turns laurel|nymph laurel tree"),
    _s("Perseus|Andromeda", "perseo|persee|perseus|perseo|andromeda|andromede", "medusa head|chained rock "
       "monster|princess chained rock"),
    _s("Icarus", "icaro|icare|ikarus|icaro|icarus", "wax wings|flying near sun|flew too close sun|wings sun sea|"
       "wings fall sea"),
    _s("Narcissus", "narciso|narcisse|narziss|narcissus", "admires reflection|reflection water youth"),
    _s("Prometheus", "prometeo|promethee|prometheus", "eagle liver|stole fire"),
    _s("Bacchus", "bacco|bacchus|dioniso|baco", "god of wine"),
    _s("Vanitas", "vanitas|vanita|vanite|verganglichkeit|vanidad|vergankelijkheid", "skull hourglass|"
       "skull candle|life is short|transience|memento mori|skull book candle"),
    _s("Still-Life|Still Life", "natura morta|nature morte|stillleben|bodegon|naturaleza muerta|stilleven"),
    # common title words
    _s("Flowers", "fiori|fleurs|blumen|flores|bloemen"),
    _s("Fruit", "frutta|fruits|fruchte|obst|frutas|vruchten"),
    _s("Landscape", "paesaggio|paysage|landschaft|paisaje|landschap"),
    _s("Self-Portrait", "autoritratto|autoportrait|selbstbildnis|selbstportrat|autorretrato|zelfportret",
       "painter portrays himself|portrait of himself"),
    # ------------------------------------------------------------------ famous works with popular names
    _s("Mona Lisa|Gioconda", "gioconda|joconde|mona lisa|monna lisa", "smiling florentine lady|smile lady "
       "leonardo|leonardo lady smile", "LEONARDO"),
    _s("Pearl Earring", "ragazza con l'orecchino di perla|orecchino di perla|jeune fille a la perle|"
       "perlenohrgehange|perlenohrring|joven de la perla|meisje met de parel|meisje met de parel",
       "girl pearl|turban pearl|girl blue turban", "VERMEER"),
    _s("Milkmaid", "lattaia|laitiere|dienstmagd mit milchkrug|milchmagd|lechera|melkmeisje",
       "maid pouring milk|pouring milk|kitchen maid milk", "VERMEER"),
    _s("Hunters in the Snow", "cacciatori nella neve|chasseurs dans la neige|jager im schnee|"
       "cazadores en la nieve|jagers in de sneeuw", "hunters winter|hunters snow|hunters dogs village",
       "BRUEGEL, Pieter the Elder"),
    _s("Arnolfini", "coniugi arnolfini|epoux arnolfini|arnolfini-hochzeit|matrimonio arnolfini|arnolfini",
       "couple convex mirror|merchant couple mirror|couple mirror dog", "EYCK, Jan van"),
    _s("Third of May", "tres de mayo|fusilamientos|3 de mayo|tre maggio|trois mai|dritte mai",
       "firing squad|execution rebels|execution madrid|shot by soldiers night", "GOYA"),
    _s("School of Athens", "scuola di atene|ecole d'athenes|schule von athen|escuela de atenas|"
       "school van athene", "plato aristotle|philosophers fresco", "RAFFAELLO"),
    _s("Earthly Delights", "giardino delle delizie|jardin des delices|garten der luste|"
       "jardin de las delicias|tuin der lusten|tuin der aardse", "paradise pleasures hell|"
       "strange pleasures hell|triptych paradise hell", "BOSCH"),
    _s("Tempest", "tempesta|la tempete|das gewitter|der sturm|la tempestad|het onweer|de storm",
       "soldier nursing woman|stormy sky soldier|lightning soldier woman", "GIORGIONE"),
    _s("Calling of Saint Matthew", "vocazione di san matteo|vocation de saint matthieu|berufung des matthaus|"
       "vocacion de san mateo|roeping van mattheus", "tax collector money|christ points tax collector",
       "CARAVAGGIO"),
    _s("Venus of Urbino", "venere di urbino|venus d'urbin|venus von urbino|venus de urbino|venus van urbino",
       "reclining nude dog|nude small dog", "TIZIANO"),
    _s("Wanderer", "viandante sul mare di nebbia|voyageur contemplant|wanderer uber dem nebelmeer|"
       "caminante sobre el mar de nubes|wandelaar boven de nevelzee", "sea of fog|above fog|rock fog man "
       "behind|above the mists", "FRIEDRICH, Caspar David"),
    _s("Jewish Bride", "sposa ebrea|fiancee juive|judenbraut|novia judia|joodse bruidje|joodse bruid",
       "couple hand breast|loving couple red gold", "REMBRANDT"),
    _s("Meninas", "meninas", "maids of honour|maids honour princess|infanta maids", "VELAZQUEZ"),
    _s("David", "david di michelangelo|david de michel-ange|david von michelangelo|david de miguel angel",
       "marble nude youth goliath|giant marble youth", "MICHELANGELO"),
    _s("Night Watch", "ronda di notte|ronde de nuit|nachtwache|ronda de noche|nachtwacht",
       "militia company", "REMBRANDT"),
)

# Artists' names in other languages (and common English forms) -> the catalogue's name words.
ARTISTS: dict[str, str] = {
    "leonardo da vinci": "LEONARDO", "leonard de vinci": "LEONARDO", "leonardo": "LEONARDO",
    "da vinci": "LEONARDO", "de vinci": "LEONARDO",
    "raphael": "RAFFAELLO", "raffaello": "RAFFAELLO", "rafael": "RAFFAELLO", "raffael": "RAFFAELLO",
    "titian": "TIZIANO", "tiziano": "TIZIANO", "titien": "TIZIANO", "tizian": "TIZIANO", "ticiano": "TIZIANO",
    "michelangelo": "MICHELANGELO", "michel-ange": "MICHELANGELO", "michel ange": "MICHELANGELO",
    "miguel angel": "MICHELANGELO", "michelangelo buonarroti": "MICHELANGELO",
    "el bosco": "BOSCH", "bosco": "BOSCH", "jerome bosch": "BOSCH", "jheronimus bosch": "BOSCH",
    "hieronymus bosch": "BOSCH", "jeroen bosch": "BOSCH",
    "velazquez": "VELAZQUEZ", "velasquez": "VELAZQUEZ",
    "bruegel": "BRUEGEL", "brueghel": "BRUEGEL", "breughel": "BRUEGEL",
    "caravage": "CARAVAGGIO", "caravaggio": "CARAVAGGIO",
    "le tintoret": "TINTORETTO", "tintoret": "TINTORETTO", "tintoretto": "TINTORETTO",
    "veronese": "VERONESE", "le greco": "GRECO", "el greco": "GRECO",
    "durer": "DURER", "duerer": "DURER",
    "perugino": "PERUGINO", "le perugin": "PERUGINO", "perugin": "PERUGINO",
    "correge": "CORREGGIO", "correggio": "CORREGGIO",
    "beato angelico": "ANGELICO", "fra angelico": "ANGELICO", "l'angelico": "ANGELICO",
    "giotto": "GIOTTO", "botticelli": "BOTTICELLI", "vermeer": "VERMEER", "rembrandt": "REMBRANDT",
    "goya": "GOYA", "rubens": "RUBENS", "van eyck": "EYCK", "giorgione": "GIORGIONE",
}


@dataclass
class Expansion:
    titles: list[str] = field(default_factory=list)  # English title words to look for
    artists: list[str] = field(default_factory=list)  # catalogue artist name words
    work_artists: list[str] = field(default_factory=list)  # the artists of named famous works

    def __bool__(self) -> bool:
        return bool(self.titles or self.artists)

    def words(self) -> str:
        """The expansion as extra query words for the word lists."""
        return " ".join(self.titles + [a.split(",")[0].title() for a in self.artists + self.work_artists])


def fold(text: str) -> str:
    """Accent-free, lower-case, punctuation as spaces, padded: " l ultima cena di leonardo "."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " " + " ".join(re.sub(r"[^\w]+", " ", plain).split()) + " "


def _prepared() -> list[tuple[Subject, list[str], list[list[str]]]]:
    """Each subject with its names and cue stems folded once (folding is most of expand's cost)."""
    global _PREPARED
    if _PREPARED is None:
        _PREPARED = [(s, [fold(n) for n in s.names], [[fold(stem).strip() for stem in cue] for cue in s.cues])
                     for s in SUBJECTS]
    return _PREPARED


_PREPARED: list[tuple[Subject, list[str], list[list[str]]]] | None = None
_ARTISTS_FOLDED = [(fold(alias), name) for alias, name in ARTISTS.items()]


def _prefixes(words: list[str]) -> set[str]:
    """Every prefix of every query word: a cue stem matches a word it starts ("magdalen" in
    "magdalene") by one set lookup."""
    return {w[:i] for w in words for i in range(1, len(w) + 1)}


def expand(query: str) -> Expansion:
    """The subjects, famous works and artists a query names, in any of the six languages or by its
    story. Returns an empty Expansion for most queries (plain English titles need none)."""
    folded = fold(query)
    prefixes = _prefixes(folded.split())
    out = Expansion()
    for subject, names, cues in _prepared():
        if any(n in folded for n in names) or any(all(stem in prefixes for stem in c) for c in cues):
            for title in subject.titles:
                if title not in out.titles:
                    out.titles.append(title)
            if subject.artist and subject.artist not in out.work_artists:
                out.work_artists.append(subject.artist)
    for alias, name in _ARTISTS_FOLDED:
        if alias in folded and name not in out.artists:
            out.artists.append(name)
    return out

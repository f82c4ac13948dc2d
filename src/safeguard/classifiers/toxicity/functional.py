"""Functional cases: short forum posts written for safeguard from templates, one per behaviour of the harm
heads, used as one more training source beside the public sets of :mod:`.harmdata`.

The public sets are thin where a forum needs the models most: plain threats against a member or a
store's staff, dehumanising or derogatory statements about a group with no slur, wishes to die, and the
look-alikes that must stay up (counter-speech that repeats the hate it condemns, "I don't hate ...",
identity mentioned in passing, violent words aimed at things: "kill the process", "shoot me an email").
Each :class:`Template` is a sentence with slots (``{groups}``, ``{person}``, ``{violence}``, ...) and a
:data:`KINDS` entry saying what it is; :func:`functional_rows` fills every template with draws from the
slot tables, fixed by a seed. Rows are split by template (``hash_split("functional:" + template id)``), so
the ``dev`` and ``test`` rows are sentence shapes no head trained on: their figures measure whether a
behaviour was learned rather than a sentence remembered.

Everything here was written for this module; nothing is taken from a published test suite.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from safeguard.classifiers.toxicity.harmrows import HEADS, HarmRow, hash_split

__all__ = ["KINDS", "SLOTS", "TEMPLATES", "Template", "functional_rows"]

SOURCE = "functional_cases"
#: Relative weight of the source (see :class:`.harmdata.Source`): as much as the adversarial sets, whose
#: labels also turn on meaning rather than on which words occur.
WEIGHT = 3.0


def _kind(*positive: str, unknown: tuple[str, ...] = ("profanity",)) -> dict[str, int]:
    """Targets of a kind: 1 for ``positive`` heads, nothing for ``unknown`` ones, 0 for the rest."""
    return {head: int(head in positive) for head in HEADS if head not in unknown}


#: What each kind of template teaches, as head targets (a head left out is unknown for that kind).
KINDS: dict[str, dict[str, int]] = {
    # Statements against a group: dehumanising, derogatory, excluding. Hate whether or not a slur occurs.
    "group_hate": _kind("toxicity", "identity_attack", unknown=("insult", "profanity")),
    # Violence called for or promised against a group or a place where it gathers.
    "group_threat": _kind("toxicity", "identity_attack", "threat", unknown=("insult", "profanity")),
    # Violence promised, called for or wished on a member, a member of staff or a named person.
    "person_threat": _kind("toxicity", "threat", unknown=("insult", "profanity")),
    # Insults aimed at a person, in shapes other than "you <word>".
    "person_insult": _kind("toxicity", "insult"),
    # A wish to die or to hurt oneself: a member at risk, for a human to read, not an attack.
    "self_harm": _kind("self_harm"),
    # Quoting or naming hate in order to reject it.
    "counter_speech": _kind("counter_speech"),
    # Groups named with respect or in passing, negated hate ("I don't hate ...").
    "identity_benign": _kind(unknown=()),
    # Violent or deathly words aimed at things, or figures of speech.
    "figurative": _kind(unknown=()),
    # Violence inside a game, a film, a book, a match or a kitchen: told, not threatened, and players
    # taunting each other about a match ("I'll kill you in the rematch"). A shop's
    # community talks about the games, films and knives it sells, "you" included ("the boss kills you").
    "story_violence": _kind(unknown=()),
    # Harsh words about a product, a service or the retailer (some of them swear words), no person attacked.
    "thing_complaint": _kind(),
}

#: Slot fillers. ``{groups}`` is a plural group, ``{group}`` one member of it, ``{self}`` an identity a
#: member states of themselves, ``{vermin}`` what hate compares people to, ``{person}`` someone in a
#: retail forum, ``{place}`` a place with people in it, ``{violence}`` an act done to ``you``, ``{lead}``
#: a lead-in (put before every template without slots).
# fmt: off
SLOTS: dict[str, tuple[str, ...]] = {
    "groups": (
        "immigrants", "refugees", "Muslims", "Jews", "Christians", "Hindus", "Sikhs", "black people", "Asians",
        "Mexicans", "Chinese people", "Pakistanis", "gay people", "gay men", "lesbians", "bisexual people",
        "trans people", "women", "disabled people", "Travellers", "Arabs", "Africans", "Polish people", "Romanians",
        "Catholics", "Nigerians", "Indians", "deaf people", "asylum seekers", "foreigners",
    ),
    "group": (
        "an immigrant", "a refugee", "a Muslim", "a Jew", "a Hindu", "a Sikh", "a black man", "a black woman",
        "an Asian woman", "a Mexican", "a gay man", "a lesbian", "a trans woman", "a trans man", "a woman",
        "a disabled person", "a Traveller", "an Arab", "a Pakistani", "a Romanian", "a Nigerian",
    ),
    "self": (
        "a Muslim", "a gay man", "a black woman", "a trans woman", "a Jewish dad", "a wheelchair user",
        "an immigrant", "a lesbian mum", "a Sikh", "a refugee", "a deaf customer", "a Hindu grandmother",
        "a bisexual guy", "a Polish nurse",
    ),
    "vermin": (
        "rats", "cockroaches", "vermin", "parasites", "leeches", "animals", "apes", "pigs", "insects", "maggots",
        "savages", "a plague", "a disease", "a cancer", "filth", "subhuman", "a virus", "lice", "dogs", "monkeys",
        "locusts", "scum",
    ),
    "person": (
        "the manager", "the delivery driver", "that cashier", "the moderator", "the guy at the returns desk",
        "the woman on the help desk", "the store manager", "this reviewer", "the courier", "the seller",
        "the security guard", "the shift supervisor", "the admin", "the bloke who posted this",
        "the girl at the till", "the engineer who came round", "the warehouse lead", "the last poster",
    ),
    "place": (
        "the Bristol branch", "the store on King Street", "the warehouse", "the call centre",
        "the mosque on Elm Road", "the synagogue on Park Lane", "the church hall", "the community centre",
        "the pride parade", "the refugee centre", "the customer service desk", "head office",
        "the Leeds superstore", "the retail park",
    ),
    "violence": (
        "stab you", "shoot you", "beat you to a pulp", "break your legs", "smash your skull in",
        "put you in hospital", "slit your throat", "run you over", "snap your neck", "strangle you",
        "set you on fire", "knock your teeth out", "cave your head in", "gut you", "bury you",
    ),
    "insult": (
        "idiot", "moron", "clown", "imbecile", "halfwit", "muppet", "sleazebag", "scumbag", "loser", "buffoon",
        "cretin", "dimwit", "numpty", "jackass", "lowlife", "pillock", "prat", "dunce", "creep", "waste of space",
        "bellend", "nitwit", "simpleton",
    ),
    "insult_adj": (
        "brainless", "pathetic", "useless", "spineless", "clueless", "worthless", "thick", "gormless", "disgusting",
        "smug", "deluded", "braindead", "vile",
    ),
    "thing": (
        "this kettle", "the new app", "the blender", "this update", "the checkout page", "the loyalty scheme",
        "these headphones", "the delivery service", "the returns policy", "the toaster", "the self-checkout",
        "this vacuum", "the phone case", "the website", "the customer portal", "this fridge",
    ),
    "thing_bad": (
        "garbage", "rubbish", "trash", "a joke", "useless", "a scam", "junk", "a total waste of money",
        "absolute shite", "crap", "a disgrace", "broken beyond belief", "a con",
    ),
    "lead": (
        "", "Honestly, ", "Listen. ", "tbh ", "Ok so ", "Update: ", "Just saying, ", "Right. ", "Sorry but ",
        "Not going to lie, ", "Seriously, ", "FYI ", "Quick one. ", "Long day. ", "Same as last week. ", "Well. ",
        "So yeah, ", "I'll be honest, ", "Look, ", "Anyway, ", "Hi all. ", "Edit: ",
    ),
    "habit": (
        "steal from shops", "start fights in the queue", "scam the returns desk", "lie about everything",
        "leave a mess everywhere", "shout at the staff", "push in", "try to cheat at the till", "refuse to work",
        "smell", "sponge off benefits",
    ),
    "game": (
        "Ashfall", "Iron Tide 3", "the new Starhold", "Grimlight", "Vault Raiders", "Deadwater", "Hollow Crown",
        "the remaster", "co-op mode", "ranked", "the DLC", "Night Siege",
    ),
    "foe": (
        "the final boss", "the dragon", "the zombies", "the enemy team", "their sniper", "the second boss",
        "the robots", "the guards", "the raiders", "the werewolf", "the big troll", "the bandits",
    ),
    "character": (
        "the detective", "the villain", "his brother", "the old king", "the captain", "the sister",
        "the main character", "the butler", "the mercenary", "the young prince", "the mayor", "her husband",
    ),
    "swear": ("fucking", "f*cking", "bloody", "effing", "absolute", "total", "f***ing"),
    "task": (
        "run a business", "drive a car", "use a computer", "vote", "raise children", "hold a job",
        "be in charge of anything", "work in a shop", "make decisions",
    ),
}
# fmt: on

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Template:
    """One sentence shape: an id (the split key), its :data:`KINDS` entry and the text with slots."""

    id: str
    kind: str
    text: str


def _templates(kind: str, *texts: str) -> list[Template]:
    return [Template(f"{kind}-{i:02d}", kind, t) for i, t in enumerate(texts, 1)]


TEMPLATES: tuple[Template, ...] = (
    *_templates(
        "group_hate",
        "{groups} are {vermin}.",
        "{groups} are nothing but {vermin}.",
        "honestly {groups} are no better than {vermin}",
        "{groups} breed like {vermin} and take over every street.",
        "{groups} are not human.",
        "I don't consider {groups} to be people.",
        "{groups} are subhuman and everyone knows it",
        "{groups} are too stupid to {task}.",
        "{groups} should never be allowed to {task}.",
        "{groups} are all criminals, every last one of them.",
        "You can't trust {group}, they are all liars.",
        "{groups} are a burden on this country.",
        "Why are {groups} so disgusting?",
        "Isn't it obvious that {groups} are inferior?",
        "{groups} will never be equal to the rest of us.",
        "Every problem in this town started when {groups} moved in.",
        "{groups} ruin everything they touch.",
        "{groups} shouldn't be allowed in our stores.",
        "Send {groups} back where they came from.",
        "There are too many {groups} here, they are {vermin}.",
        "I would never serve {group}, they are {vermin}.",
        "{groups} r {vermin} lol",
        "the world would be better without {groups}",
        "{groups} are a disease on society",
        "Typical, another {group}. They are all the same, dirty and lazy.",
        "No offence but {groups} are genetically inferior.",
        "{groups} are worthless and always will be.",
        "It's not hate to say {groups} are {vermin}, it's the truth.",
        "{groups} always {habit}.",
        "How come it's always {groups} who {habit}?",
        "Ever notice how {groups} {habit}? Every single time.",
    ),
    *_templates(
        "group_threat",
        "All {groups} should be shot.",
        "Someone should burn down {place} with the {groups} still inside.",
        "We need to get rid of {groups} for good, by force if we have to.",
        "Let's go to {place} tomorrow and hurt as many {groups} as we can.",
        "{groups} deserve to be hanged.",
        "I'd happily gas every one of those {groups}.",
        "If I see {group} at {place} again I will beat them senseless.",
        "Time to bring guns to {place} and clear out the {groups}.",
        "Death to {groups}.",
        "Someone should bomb {place}.",
        "I'm going to shoot up {place} on Saturday.",
        "Torch {place} while everyone's inside, they deserve it.",
    ),
    *_templates(
        "person_threat",
        "I'm going to {violence}.",
        "Say that one more time and I'll {violence}.",
        "I know where you live and I will {violence}.",
        "Watch your back, I'm coming for you.",
        "Next time I see you in the store I'll {violence}.",
        "I hope {person} gets hit by a car.",
        "{person} deserves a bullet in the head.",
        "Someone should {violence}, {person}.",
        "I'll wait for {person} in the car park after closing and make them pay.",
        "You'll regret this, I'll find you and {violence}.",
        "{person} should be beaten until they can't stand.",
        "I swear I will {violence} if my refund isn't here by Friday.",
        "i will literally {violence}",
        "Keep talking and see what happens to you when I find you.",
        "I hope you and your family die in a fire.",
        "{person} needs a knife in the ribs.",
        "Wait till your shift ends, {person}. You won't walk home.",
    ),
    *_templates(
        "person_insult",
        "{person} is a {insult}.",
        "What a {insult_adj} {insult} {person} is.",
        "Only a {insult} would write a review like that.",
        "Anyone who defends {person} is a {insult}.",
        "Honestly {person} is the biggest {insult} I've ever dealt with.",
        "Shut up, nobody asked for your opinion, {insult}.",
        "Go away, you {insult_adj} {insult}.",
        "{person} is a {insult_adj} excuse for a human being.",
        "Listen here {insult}, read the thread before posting.",
        "That reply is exactly what I'd expect from a {insult_adj} {insult} like you.",
        "Imagine being as {insult_adj} as {person}.",
        "Your brain must be the size of a pea, {insult}.",
        "Typical {insult} behaviour from {person}.",
        "Nobody cares what you think, you {insult_adj} {insult}.",
        "you're a {swear} {insult}, stop replying to me",
        "Get lost, {person} is a {swear} {insult}.",
    ),
    *_templates(
        "self_harm",
        "I want to die.",
        "I don't want to be alive anymore.",
        "I'm going to kill myself tonight.",
        "I've started cutting myself again.",
        "Everyone would be better off if I was dead.",
        "I keep thinking about ending my life.",
        "I can't do this anymore, I'm planning to end it all.",
        "I have pills saved up and I'm going to take them all.",
        "Sorry for posting here but I just want it all to stop. I don't want to wake up tomorrow.",
        "I've written my goodbye letters.",
        "What's the most painless way to die?",
        "Nobody would even notice if I disappeared for good.",
        "I hurt myself again last night and I can't stop.",
        "Life isn't worth living and I'm done trying.",
    ),
    *_templates(
        "counter_speech",
        "Saying {groups} are {vermin} is disgusting and wrong.",
        "Someone in this thread wrote '{groups} are {vermin}'. Reported, that has no place here.",
        'Comments like "{groups} are {vermin}" should be removed.',
        "Stop calling {groups} {vermin}, they are people just like you.",
        "My uncle says {groups} are {vermin} and I told him he's flat out wrong.",
        "It's not ok to say {groups} are {vermin}. Please stop.",
        "Calling {groups} {vermin} is how hate starts. Mods, please act.",
        "People who say {groups} are inferior are just bigots.",
        "The idea that {groups} are criminals is a lie.",
        "Statements like '{groups} should go back where they came from' are racist.",
        "Threatening {groups} is never acceptable, no matter how angry you are.",
        "Hating {groups} says more about you than about them.",
        "Why do people think it's fine to call {groups} {vermin}? It's dehumanising.",
        "Reported the post that said {groups} should be shot. Absolutely vile.",
    ),
    *_templates(
        "identity_benign",
        "I don't hate {groups}.",
        "{groups} are welcome here like anyone else.",
        "As {self}, I found the staff really helpful.",
        "As {self}, I'm glad this store has step-free access.",
        "I'm {self} and this is the best kettle I've owned.",
        "{groups} deserve the same respect as everyone.",
        "There is nothing wrong with being one of the {groups} in this town.",
        "My neighbours are {groups} and they're lovely.",
        "The store ran a great event for {groups} last week.",
        "Does anyone know if the shop stocks food suitable for {groups}?",
        "{groups} are people, not problems.",
        "I have never had an issue with {groups}, why would I?",
        "Our team includes {groups} and it makes us stronger.",
        "Love my colleagues at the Leeds store, {groups} included, always kind.",
        "Not all {groups} are the same, stop generalising.",
        "Which aisle has the halal and kosher section?",
        "Why do {groups} celebrate that festival? Genuinely curious.",
        "Are there any {groups} here who can recommend a good tailor?",
    ),
    *_templates(
        "figurative",
        "Kill the app and restart it, that fixed it for me.",
        "You can kill the process from the task manager.",
        "Shoot me an email when the order arrives.",
        "I'll shoot you a message with the tracking number.",
        "These prices are killing me.",
        "I could murder a bacon sandwich right now.",
        "The battery died after a week.",
        "I'm dying to try the new blender.",
        "Hit the reset button on the back for ten seconds.",
        "The sale absolutely slaughtered the competition.",
        "My phone is dead again, third time this month.",
        "Execute the update script and then reboot.",
        "That queue nearly killed me, forty minutes at the till.",
        "You'll have to beat the crowds on Black Friday.",
        "The drill bit is a killer, goes straight through brick.",
        "Terminate the subscription from your account page.",
        "This game lets you shoot zombies with a nail gun.",
        "Fire the starter pistol at nine and the sale begins.",
        "I nearly died laughing at the returns queue.",
        "Strip the wire and cut the power before you start.",
        "Choke the engine first if it's cold.",
        "Punch in the code and the door unlocks.",
    ),
    *_templates(
        "story_violence",
        "In {game} {foe} can kill you in two hits, so keep your shield up.",
        "Just shoot {foe} in the head and the level is done.",
        "I died about forty times to {foe} in {game} before I finally beat it.",
        "On hard mode {foe} will destroy you before you even see them.",
        "Spoiler: {character} murders his own brother at the wedding.",
        "The bit where {character} gets stabbed in the last chapter ruined me.",
        "They really should have killed off {character} in season two.",
        "In the film {character} shoots his way out of the bank vault.",
        "{character} strangles the witness in the first ten minutes, so not one for the kids.",
        "Blow up the fuel barrels and {foe} all go down at once.",
        "Headshots do double damage in {game}, so aim for the face.",
        "My son loves {game}, you hunt {foe} and burn their camp to the ground.",
        "We slaughtered them 4-0 on Saturday, best match of the season.",
        "Their keeper got absolutely murdered on that penalty.",
        "The book opens with a body in the canal and {character} is the killer.",
        "Gut the fish with the fillet knife, one cut along the belly, then bone it.",
        "The history channel did a good one on how the army burned the village in 1645.",
        "If {foe} push mid we rush B and take them out one by one.",
        "Does anyone know if {game} lets you kill {foe} without the stealth perk?",
        "You have to stab {foe} in the back while they reload, it's the only way.",
        "Bought {game} for my nephew, it's mostly shooting {foe} but no blood, he loves it.",
        "In episode five {character} poisons the whole council. Best twist of the year.",
        "Joint the chicken into eight pieces and hack through the backbone with the cleaver.",
        "Took out {foe} with a shotgun at point blank, then the whole squad wiped.",
        # Players talking to each other about a match: "you" is the opponent in the game.
        "I'll kill you in the rematch tonight, bring your best deck.",
        "Once the circle closes nobody can touch you, then you just shoot whoever is left.",
        "I keep dying over and over on the last level of {game}.",
        "{foe} killed me so many times I nearly threw the controller.",
        "We're going to crush you lot on Sunday, five-a-side rematch is on.",
        "My wife destroyed me at Scrabble again, never playing her again.",
        "Camp by the bridge in {game} and snipe anyone who crosses.",
        "You'll get slaughtered in ranked if you don't learn to block.",
        "Died again on the first boss, I'm done for tonight.",
        "The finishing moves in {game} are brutal, you rip the spine out of {foe}.",
        "Wait for the last squad to fight, then wipe them all while they heal.",
        "My character bled out three times before the checkpoint.",
        "The kids spend hours blowing each other up in split screen.",
    ),
    *_templates(
        "thing_complaint",
        "{thing} is {thing_bad}.",
        "Honestly {thing} is {thing_bad}, I want my money back.",
        "Whoever designed {thing} should be embarrassed, it's {thing_bad}.",
        "{thing} broke after two days. {thing_bad}.",
        "Worst purchase ever, {thing} is {thing_bad}.",
        "Three weeks waiting and {thing} is still {thing_bad}.",
        "I'm furious. {thing} is {thing_bad} and nobody answers the phone.",
        "Never buying from here again, {thing} is {thing_bad}.",
        "Why is {thing} so {thing_bad}? Fix it.",
    ),
)


def _fill(template: Template, rng: random.Random) -> str:
    # A template without slots varies by its lead-in alone.
    shape = template.text if _SLOT.search(template.text) else "{lead}" + template.text
    text = _SLOT.sub(lambda m: rng.choice(SLOTS[m.group(1)]), shape)
    return text[:1].upper() + text[1:] if rng.random() < 0.8 else text[:1].lower() + text[1:]


def functional_rows(*, per_template: int = 24, seed: int = 0) -> list[HarmRow]:
    """Up to ``per_template`` distinct fillings of every template (fewer when its slots allow fewer), each a
    :class:`~.harmdata.HarmRow` of source ``functional_cases`` with its kind's targets and its template's
    split. The same ``seed`` gives the same rows."""
    rows: list[HarmRow] = []
    for template in TEMPLATES:
        rng = random.Random(f"{seed}:{template.id}")
        split = hash_split(f"functional:{template.id}")
        targets: Mapping[str, int] = KINDS[template.kind]
        seen: set[str] = set()
        for _ in range(per_template * 4):
            if len(seen) >= per_template:
                break
            text = _fill(template, rng)
            if text in seen:
                continue
            seen.add(text)
            rows.append(HarmRow(f"{template.id}-{len(seen):03d}", text, SOURCE, split, dict(targets), WEIGHT))
    return rows

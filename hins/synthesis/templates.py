"""Sentence templates of the procedural synthesizer, by message role.

Many templates per role, combined with the per-theme vocabulary of ``themes.py``, an optional reaction
prefix and an optional question tail, so that no surface pattern identifies a role or a topic.
Placeholders: {o} the listener's first name; {act} {place} {when} {thing} {detail} {feeling} {plan}
{habit} {ref} from the theme; {ptime} a past time, {ftime} a future time; {job} {workplace} {city}
from the speaker's persona. Sentence starts are capitalised after formatting.
"""

from __future__ import annotations


def _lines(s: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in s.strip().splitlines() if line.strip())


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_PARTS = ("morning", "afternoon", "evening")

PAST_TIMES = _lines(
    """
    last month
    a few weeks ago
    over the summer
    last spring
    back in college
    a couple of years ago
    last weekend
    the other day
    years ago
    last fall
    over the holidays
    a while back
    two weekends ago
    earlier this year
    last winter
    when I first moved here
    """
)

FUTURE_TIMES = _lines(
    """
    next weekend
    next month
    this Saturday
    sometime in the spring
    before the summer
    in a couple of weeks
    next Sunday
    when the weather warms up
    after the holidays
    this fall
    one of these evenings
    next time we are both free
    """
)

# Pronoun-free endings for event sentences (events must name the person, never he/she).
EVENT_TAILS = _lines(
    """
    before heading to work
    despite the drizzle
    with an old college friend
    while a podcast played in the background
    right after lunch
    after a long day
    with a thermos of coffee
    before the crowds arrived
    on a whim
    to everyone's surprise
    just before sunset
    with a neighbor tagging along
    after weeks of putting it off
    in record time
    for the very first time
    while the house was still quiet
    """
)

EVENT = _lines(
    """
    {When}, {name} {act} {place}.
    {name} {act} {place} {when}.
    {When}, {name} {act}, {tail}.
    {name} {act} {when}, {tail}.
    {When}, {name} {act} {place} {tail}.
    {name} {act} {place} {when}, {tail}.
    """
)

BRIEF = _lines(
    """
    the {age}{job} from {city}, {state} who {b1} and {b2}
    the {age}{city}-based {job} who {b1} and {b2}
    the {age}{job} from {city} who {b1}, {b2}, and {b3}
    the {marital}{age}{job} living in {city} who {b1} and {b2}
    the {age}{job} from {city} who {b1} and, on most weekends, {b2}
    the {age}{job} from {city}, {state} who {b1}
    the {age}{city}-based {job} who {b1}
    the {job} who {b1} and {b2}
    """
)

# Ways a query refers to a person through the brief ({job} {city} {age} come from the brief itself).
BRIEF_REFS = _lines(
    """
    the {age}{job}
    the {job} from {city}
    the {age}{job} from {city}
    the {city}-based {job}
    """
)

GREETING_OPEN = _lines(
    """
    Hey {o}! How has your week been?
    Hi {o}, it feels like ages. How are things with you?
    Morning {o}! Got a minute to catch up?
    {o}! Finally a quiet moment. How are you doing?
    Hey there {o}, how's life treating you lately?
    Hi {o}! I was just thinking about you. What's new?
    Hey {o}, long time no talk! How are you?
    Good evening {o}! How did the week go for you?
    Hi {o}, hope you're doing well. Anything exciting lately?
    Hey {o}! Do you have time for a proper chat?
    Hello {o}! It's been too long, how are you holding up?
    Hey {o}, happy Sunday! How's everything going?
    Hi {o}! I owe you a long message, so here it is. How are you?
    {o}! How are you? I feel like I have a million things to tell you.
    Hey {o}, are you surviving this week?
    Hi {o}, how's the family and everything?
    Hey {o}! Quick check-in, how have you been?
    Hi there {o}! Tell me everything, how have you been?
    Hey {o}, got a second? I need a break and a good chat.
    Good morning {o}! Coffee in hand yet?
    """
)

# Replies, small talk answers and goodbyes are put together from parts (one line of each part, an empty
# line meaning the part is left out), so the same sentence rarely repeats across conversations.
GREETING_REPLY = (
    _lines(
        """
        Hey {o}!
        Hi {o}!
        Oh hey!
        {o}!
        Hi!
        Hey there!
        Hello, {o}!
        Oh, hi {o}!
        """
    ),
    _lines(
        """
        Pretty good, a little tired but good.
        Things are busy at the {workplace}, but I'm hanging in there.
        So nice to hear from you, I'm doing well.
        I just finished a long day at the {workplace}.
        Honestly, it's been a wild week.
        I'm great, just got back home.
        Doing fine over here, the weather in {city} has been lovely.
        I'm alive, barely, ha. It's been one of those weeks.
        Good timing, I just sat down with some tea.
        I was hoping you'd message. All good here!
        Surviving and mostly thriving.
        Things are calm for once, which feels strange.
        Busy but happy, the {workplace} never really slows down.
        I'm well, a little sleepy.
        Yes, I have time, it's been way too long.
        Doing okay! {city} has been so hot lately, I'm hiding indoors.
        Not bad at all, just catching my breath.
        Can't complain, life as a {job} keeps me busy.
        """
    ),
    _lines(
        """
        How about you?
        You?
        What's new with you?
        How are you?
        Tell me about your week.
        What have you been up to?
        And you?
        """
    ),
)

GREETING_THIRD = (
    _lines(
        """
        Glad to hear it!
        Ha, I know that feeling.
        Can't complain, really.
        That makes two of us.
        Same old, same old here.
        Oh good, I'm glad.
        Ha, relatable.
        Love that for you.
        """
    ),
    _lines(
        """
        I'm doing well too, thanks for asking.
        It's been a full week, but a good one.
        All good on my end, just a lot going on.
        A bit busy, but the good kind of busy.
        Mostly good here, honestly.
        I'm fine, just counting down to the weekend.
        Things at the {workplace} are keeping me on my toes.
        """
    ),
    _lines(
        """
        How's everything at the {workplace}?
        Life as a {job} is never boring.
        It's been busy here in {city}.
        So good to hear from you, {o}.
        """
    ) + ("",) * 4,
)

SMALLTALK = (
    _lines(
        """
        Honestly,
        Ugh,
        So,
        Funny enough,
        Not much news, but
        Meanwhile,
        Well,
        Ha,
        """
    ) + ("",) * 4,
    _lines(
        """
        the weather in {city} has been all over the place this week.
        work at the {workplace} has been nonstop lately.
        I finally got a full night of sleep and it felt amazing.
        this week went by in a blur.
        being a {job} keeps me on my toes.
        I've been trying to get outside more before the days get shorter.
        my phone died twice today, which feels like a sign to slow down.
        traffic in {city} was a mess again this morning.
        I keep meaning to call more people, so this is nice.
        it's been raining nonstop in {city}, everything feels soggy.
        we finally had a sunny day in {city} and everybody was out.
        I've been living on coffee and good intentions.
        the neighbors are renovating, so it's been loud around here.
        my to-do list has its own to-do list at this point.
        somehow it's already the end of the month.
        things at the {workplace} are finally calming down a bit.
        I'm trying to drink more water and go to bed earlier, with mixed results.
        my week was mostly the {workplace} and laundry, nothing glamorous.
        I just want a long weekend with nothing on the calendar.
        the power went out for an hour yesterday, which was weirdly peaceful.
        someone at the {workplace} brought in homemade cookies today.
        I think spring is finally showing up in {city}.
        my neighbor's cat has decided to live on my porch.
        I spent way too long choosing a show last night and then fell asleep.
        """
    ),
    _lines(
        """
        How's {city} treating you?
        Anyway, how are you, {o}?
        Do you ever feel that way?
        Such is life.
        But I'm not complaining.
        """
    ) + ("",) * 5,
)

# A quick mention of one of the speaker's events outside the main topic blocks.
MENTION = _lines(
    """
    Oh, and {when} I {act} {place}.
    Quick update: {when}, I {act}.
    Random, but I {act} {when}.
    Before I forget, I {act} {place} {when}.
    Also, {when} I finally {act}.
    Small news: I {act} {place}.
    I did manage to get one thing done, I {act} {when}.
    Side note, I {act} {when} and it went fine.
    Other than that, I {act} {place}, which was nice.
    And {when}, I {act}, so that's checked off.
    """
)

MENTION_REPLY = (
    _lines(
        """
        Nice,
        Ha, good for you,
        Oh,
        Love that,
        Well done,
        Oh fun,
        Look at you,
        Okay,
        Ha,
        Nice one, {o},
        Oh wow, {o},
        Good job, {o},
        """
    ),
    _lines(
        """
        that's one thing off the list.
        that sounds productive.
        that's great to hear.
        it sounds like a full week.
        that's something done, at least!
        you've been busy.
        I'm glad that worked out.
        that sounds like a good day.
        I would have put that off for months.
        that's more than I managed this week.
        """
    ),
)

# The first message of a topic block, by the person whose event the block is about.
LEAD_OPEN = _lines(
    """
    {trans} {when}, I {act} {place}.
    {trans} I {act} {place} {when}.
    {trans} I finally {act} {when}!
    {trans} {when} I {act}, and it was quite the adventure.
    {trans} I have to tell you, {when} I {act} {place}.
    {trans} guess what? {when}, I {act}.
    {trans} I {act} {when}. Still thinking about it.
    {trans} so {when} I {act} {place}, which was a first for me.
    """
)

TRANSITIONS = _lines(
    """
    Oh, by the way,
    Anyway, big news on my end:
    Totally unrelated, but
    Changing the subject a bit,
    That reminds me,
    Oh, before I forget,
    So here's my update:
    Okay, my turn.
    On a different note,
    Speaking of busy weeks,
    Oh! Something fun:
    Anyway, enough about that.
    So, a little story:
    Oh, and
    Also,
    """
)

# The first message of a block by the listener, who brings the subject up as a question.
FOLLOW_OPEN = _lines(
    """
    {trans} how are things with {ref} lately? I {habit} these days.
    {trans} how is {ref} going for you? I usually {habit} myself.
    {trans} are you still into {ref}? I've started to {habit}.
    {trans} any news about {ref}? I've been trying to {habit}.
    {trans} I meant to ask about {ref}. I've gotten into a routine where I {habit}.
    {trans} how's {ref} treating you? Lately I {habit}.
    """
)

# The lead's first message when the listener opened the block.
LEAD_ANSWER = _lines(
    """
    Funny you ask! {when}, I {act} {place}.
    Actually yes, {when} I {act} {place}.
    Oh, I have a story for that. {when}, I {act}.
    You won't believe it, {when} I {act} {place}.
    Perfect timing, I {act} {when}.
    Ha, yes! I {act} {place} {when}.
    """
)

# The listener's first reply to the lead's opening.
FOLLOW_REPLY = _lines(
    """
    {react} I {habit} too, though not as seriously.
    {react} That reminds me of {ptime}, when I {act} {place}.
    {react} I {act} {ptime} myself.
    {react} I've been meaning to get back into {ref}. I used to {habit}.
    {react} I'm pretty casual about {ref}. I mostly {habit}.
    {react} I tried something like that {ptime}. I {act}.
    {react} Funny, I {act} {ptime} too.
    {react} I only {habit}, so you're way ahead of me.
    """
)

# Body sentences, for both speakers of a block, in the speaker's own voice.
ACT = _lines(
    """
    I also {act} {ptime}.
    {ptime}, I {act} {place}.
    Oh, and I {act}.
    Before that, I {act} {place}.
    Another time I {act}.
    {ptime} I {act}, which I'm still proud of.
    One thing I did was, I {act} {place}.
    I even {act} {ptime}.
    """
)

DETAIL = _lines(
    """
    {detail}.
    Funny thing is, {detail}.
    The best part? {detail}.
    Honestly, {detail}.
    Not gonna lie, {detail}.
    And of course {detail}.
    I have to say, {detail}.
    The highlight was that {detail}.
    What surprised me was that {detail}.
    To be fair, {detail}.
    I'll never forget that {detail}.
    """
)

OUTCOMES = _lines(
    """
    turned out better than expected
    took way longer than planned
    caused a bit of drama
    needed more attention than I thought
    held up surprisingly well
    surprised me in a good way
    was a total disaster at first
    ended up being the best part
    tested my patience
    cost more than I'd like to admit
    became a bit of an obsession
    won everyone over
    """
)

THING = _lines(
    """
    My {thing} {outcome}.
    The {thing} {outcome}, to be honest.
    I swear the {thing} {outcome}.
    Let's just say the {thing} {outcome}.
    The whole {thing} situation {outcome}.
    Oh, and the {thing} {outcome}.
    """
)

FEELING = _lines(
    """
    {feeling}.
    I keep telling people {feeling}.
    For me, {feeling}.
    Honestly, {feeling}.
    I really think {feeling}.
    If you ask me, {feeling}.
    You know what I've learned? {feeling}.
    """
)

PLAN = _lines(
    """
    Next, I want to {plan}.
    I'm thinking I'll {plan} {ftime}.
    My goal is to {plan} before long.
    {ftime}, I'd love to {plan}.
    I've decided to {plan}.
    The plan is to {plan} {ftime}.
    Eventually I want to {plan}.
    """
)

HABIT = _lines(
    """
    I usually {habit}.
    Most weeks I {habit}.
    These days I {habit}.
    I try to {habit} whenever I can.
    My routine is simple: I {habit}.
    I've gotten into a habit: I {habit}.
    """
)

PERSONA = _lines(
    """
    Being a {job}, I only get to {habit} on my days off.
    With my hours at the {workplace}, I {habit} whenever I can.
    After a long day at the {workplace}, I really need to {habit}.
    As a {job}, I guess I like things organized, so I {habit}.
    People at the {workplace} laugh at me, but I {habit}.
    """
)

# A question about the other speaker's story followed by the speaker's own sentence.
ASK = _lines(
    """
    Wait, how did the {their_thing} work out?
    So what happened with the {their_thing} in the end?
    Was the {their_thing} as good as you hoped?
    How long did the {their_thing} take you?
    Do you think you'll try the {their_thing} again?
    Did anyone else help with the {their_thing}?
    """
)

REACTIONS = _lines(
    """
    Oh nice!
    No way!
    Ha, love that.
    That sounds amazing.
    Oh wow.
    Ugh, I feel that.
    That's so you.
    Oh no!
    Seriously?
    Good for you!
    I'm jealous.
    That's wild.
    Sounds lovely.
    Ha!
    Oof.
    Nice one.
    Honestly, same.
    Oh, fun!
    You're kidding.
    That tracks.
    Wow, impressive.
    Oh, I love that.
    Haha, classic.
    That's brilliant.
    Aw, that's sweet.
    Oh man.
    Yikes.
    Okay, that's awesome.
    Fair enough!
    Right?
    Totally.
    Good point.
    Oh, interesting.
    That made me laugh.
    Ha, I can picture it.
    """
)

TAILS = _lines(
    """
    How about you?
    Have you ever tried that?
    What about you, {o}?
    Do you do anything like that?
    Does that sound crazy?
    Right?
    Am I the only one?
    You would have loved it.
    I'll send you a picture later.
    Anyway, that's my news.
    You know how it is.
    Tell me I'm not wrong.
    """
)

# The block about something the two did (or plan to do) together.
JOINT_OPEN_PAST = _lines(
    """
    {trans} I'm still thinking about {when}, when we {act} {place}.
    {trans} thanks again for coming along {when}. I loved that we {act}.
    {trans} can we talk about how we {act} {when}? Best idea ever.
    {trans} that was such a good time {when}, when we {act}.
    {trans} I told everyone about how we {act} {place} {when}.
    {trans} I keep smiling about {when}, when we {act}.
    """
)

JOINT_OPEN_PLAN = _lines(
    """
    {trans} are we still on for {ref} {ftime}? I really want us to {plan}.
    {trans} we should {plan} together {ftime}.
    {trans} I've been thinking, we should {plan} {ftime}.
    {trans} so about our plan for {ref}, do you still want to {plan} {ftime}?
    {trans} let's finally {plan} together {ftime}, what do you say?
    {trans} I have an idea for {ftime}: we {plan} together.
    """
)

JOINT_WE_PAST = _lines(
    """
    Remember how we {act}? {detail}.
    And we {act} too, which I did not expect.
    We really {act} {place}, ha.
    I still can't believe we {act} that day.
    The best part was when we {act}.
    We {act} and nobody complained once.
    """
)

JOINT_WE_PLAN = _lines(
    """
    Let's meet {place} and {plan}.
    We could also {plan} while we're at it.
    Let's {plan} first and see how it goes.
    If we go {ftime}, we can {plan} too.
    How about we {plan} and then grab food?
    We should pick a spot {place} and {plan}.
    """
)

JOINT_MINE_PLAN = _lines(
    """
    I can bring my {thing}.
    I usually {habit}, so I'll handle that part.
    I'll check if my {thing} is still in good shape.
    Count me in. I'll bring the {thing}.
    I need to practice first, I usually just {habit}.
    """
)

CLOSE_OPEN = (
    _lines(
        """
        Anyway,
        Okay,
        Alright,
        Well,
        Oh shoot,
        Hmm,
        """
    ),
    _lines(
        """
        I should get going.
        I need to run.
        I have to get dinner started.
        my break is over.
        bedtime for me.
        I've kept you long enough.
        I should probably get some work done.
        the dog is staring at me, walk time.
        I need to head out now.
        my battery is about to die.
        """
    ),
    _lines(
        """
        This was fun, {o}!
        I loved catching up.
        This was exactly the chat I needed.
        Let's do this again soon.
        Great talking to you, {o}!
        Thanks for the chat.
        This made my day.
        Talk later, {o}!
        Catch you later!
        """
    ),
)

CLOSE_REPLY = (
    _lines(
        """
        Same here!
        Anytime!
        Of course!
        Sounds good!
        Definitely!
        No worries!
        Yes, go!
        Ha, okay!
        Bye, {o}!
        Take care, {o}!
        """
    ),
    _lines(
        """
        Talk soon, {o}.
        Take care of yourself.
        Have a great evening, {o}!
        Good luck with everything!
        Let's not wait so long next time.
        Say hi to everyone for me.
        Keep me posted, {o}.
        Have a lovely rest of your week.
        This was fun, bye for now.
        Let's catch up again soon.
        Enjoy the rest of your day!
        """
    ),
    _lines(
        """
        Bye, {o}!
        Miss you already, {o}.
        Hugs to everyone in {city}.
        Don't work too hard at the {workplace}.
        Text me when you're home.
        Go get some rest, {o}.
        """
    ) + ("",) * 6,
)

CLOSE_THIRD = (
    _lines(
        """
        Will do.
        You too!
        Haha, deal.
        Thanks, {o}.
        Perfect.
        Promise.
        Will do, {o}.
        Okay, {o}!
        Ha, you too, {o}!
        """
    ),
    _lines(
        """
        Bye for now!
        Talk soon, okay?
        Take care out there!
        Have a good one!
        Bye, and good luck!
        Sleep well when you get there.
        Until next time!
        """
    ),
    _lines(
        """
        Bye, {o}!
        Say hi to everyone in {city}.
        Off to the {workplace} now.
        Night, {o}!
        """
    ) + ("",) * 4,
)

# Queries. {who} a person reference, {subj} a theme reference, {other} the other person. A leading
# [kind] restricts a template to targets whose messages contain that kind of sentence, so it stays answerable.
Q_LEAD = _lines(
    """
    What has {who} shared about {subj}?
    How has {who} been spending time on {subj}?
    What did {who} say about {subj} recently?
    Tell me about {who}'s recent experience with {subj}.
    [when] What did {who} get up to {when}?
    What happened with {who} and {subj} this week?
    [thing] What did {who} mention about the {thing}?
    What story did {who} tell about {subj}?
    How did {who}'s recent plans around {subj} go?
    What details did {who} give about {subj}?
    """
)

Q_FOLLOW = _lines(
    """
    [habit] What does {who} usually do when it comes to {subj}?
    How does {who} approach {subj}?
    What is {who}'s own experience with {subj}?
    [thing] What did {who} say about the {thing}?
    [habit] What habits does {who} have around {subj}?
    [feeling] How does {who} feel about {subj}?
    [act] What has {who} tried with {subj} in the past?
    [plan] What are {who}'s plans for {subj}?
    """
)

Q_SHARED_PAST = _lines(
    """
    [when] What did {who} and {other} do together {when}?
    How did {who} feel about {subj} with {other}?
    What does {who} remember about {subj} with {other}?
    What did {who} enjoy about {subj} with {other}?
    What happened between {who} and {other} around {subj}?
    How did {who} describe the time spent on {subj} with {other}?
    """
)

Q_SHARED_PLAN = _lines(
    """
    What are {who} and {other} planning to do together?
    What did {who} say about the plans with {other} around {subj}?
    How is {who} preparing for {subj} with {other}?
    [thing] What is {who} bringing along for {subj} with {other}?
    What did {who} and {other} agree to do {ftime}?
    What does {who} want to do with {other} for {subj}?
    """
)

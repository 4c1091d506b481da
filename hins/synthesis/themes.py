"""The theme bank of the procedural synthesizer: what people do and talk about.

A theme is a ground-truth subject (its key becomes the topic label of every message about it) with its own
vocabulary. Each field is a '|'-separated list of fragments that slot into the generic templates of
``templates.py``; keeping every theme's words to itself is what makes topics separable by content and lets
two speakers on the same topic say different things (the hard negatives):

- ``refs``: bare noun phrases naming the subject ("about {ref}", "into {ref}");
- ``acts``: past-tense predicates without possessives ("Maria {act}", "I {act}", "we {act}");
- ``things``: nouns without an article ("my {thing}", "the {thing}");
- ``places``: location phrases with their preposition;
- ``details``: clauses, speakable by anyone; ``feelings``: opinion clauses;
- ``plans``: infinitive predicates ("want to {plan}"); ``habits``: present predicates ("I usually {habit}");
- ``questions``: theme-specific query texts with ``{who}``; ``brief``: predicates for a person brief;
- ``keywords``: lower-case stems matched against persona traits to pick themes that fit a person.

``{workplace}`` in a fragment is replaced with the person's workplace.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("routine", "social", "hobby", "mundane")


@dataclass(frozen=True, eq=False)  # identity comparison: themes are singletons, and field-wise eq is slow
class Theme:
    key: str
    category: str
    joint: bool  # plausible as something two friends do together
    refs: tuple[str, ...]
    acts: tuple[str, ...]
    things: tuple[str, ...]
    places: tuple[str, ...]
    details: tuple[str, ...]
    feelings: tuple[str, ...]
    plans: tuple[str, ...]
    habits: tuple[str, ...]
    questions: tuple[str, ...]
    brief: tuple[str, ...]
    keywords: tuple[str, ...]


_FIELDS = ("refs", "acts", "things", "places", "details", "feelings", "plans", "habits", "questions", "brief")


def _theme(key: str, category: str, joint: bool, keywords: str, **parts: str) -> Theme:
    split = {name: tuple(p.strip() for p in parts[name].split("|") if p.strip()) for name in _FIELDS}
    return Theme(key=key, category=category, joint=joint, keywords=tuple(keywords.split()), **split)


THEMES: tuple[Theme, ...] = (
    # ---------------------------------------------------------------- routine
    _theme(
        "morning_run", "routine", True, "run jog marathon mile sunrise sneaker track",
        refs="running|morning runs|jogging|the running routine",
        acts="ran five miles along the river before sunrise|finally broke a personal best on the hill loop"
        "|tried interval sprints on the high school track|jogged the long loop around the reservoir"
        "|signed up for a local 10K|bought new running shoes after the old pair fell apart"
        "|ran in the rain without a jacket",
        things="running shoes|watch|hill loop|playlist|knee brace|water bottle|pace",
        places="along the river path|around the reservoir|on the high school track|through the park|on the greenway",
        details="the sunrise over the water was worth the early alarm|a blister showed up around mile three"
        "|a pack of geese chased everyone off the path|the new shoes felt like running on pillows"
        "|the last mile was pure stubbornness|a stranger cheered at the top of the hill",
        feelings="running clears my head better than coffee|the first mile always lies to you"
        "|an early run makes the whole day feel lighter|slow miles still count",
        plans="sign up for a half marathon in the fall|add one more long run each week"
        "|finally get a proper gait analysis|run the whole trail without walking",
        habits="run before the sun comes up|stretch for ten minutes after every run"
        "|log every mile in a little notebook|listen to podcasts on easy runs",
        questions="How has {who} been doing with running lately?|What was the morning run like for {who}?"
        "|What is {who} training for?|How far has {who} been running?",
        brief="runs at sunrise most mornings|is training for a first half marathon",
    ),
    _theme(
        "gym", "routine", True, "gym weight lift fitness trainer muscle strength workout",
        refs="the gym|strength training|lifting weights|workouts",
        acts="hit a new deadlift record at the gym|tried a spin class for the first time"
        "|worked out with a personal trainer|did a brutal leg day|joined a cheaper gym closer to home"
        "|finished a thirty-day workout challenge|learned proper squat form from a coach",
        things="deadlift|leg day|squat rack|protein shakes|gym bag|rowing machine|resistance bands",
        places="at the gym|at the rec center|in the garage gym|at the climbing gym downtown",
        details="the squat rack was taken for forty minutes|my legs were shaking on the stairs afterward"
        "|the trainer kept counting down from ten and then starting over|the playlist was all 90s hits"
        "|someone dropped a dumbbell and the whole room jumped|the locker room was freezing",
        feelings="lifting is the one hour nobody can bother me|progress at the gym is slow but honest"
        "|a good workout fixes a bad mood|consistency beats intensity",
        plans="add a second leg day|learn to do a proper pull-up|try the early boxing class"
        "|work with a trainer once a month",
        habits="go to the gym right after work|keep a spare gym bag in the car|track every set on my phone"
        "|stretch on the foam roller before bed",
        questions="What is {who} working on at the gym?|How is {who}'s strength training going?"
        "|What did {who} say about the workouts?",
        brief="lifts weights four times a week|never skips a workout at the gym",
    ),
    _theme(
        "meal_prep", "routine", False, "meal prep cook kitchen recipe diet lunch container",
        refs="meal prep|cooking for the week|packed lunches|weekly cooking",
        acts="cooked a huge batch of chili for the week|prepped five days of lunches in one afternoon"
        "|roasted three trays of vegetables|tried a new overnight oats recipe|portioned out rice and chicken"
        "|froze a dozen breakfast burritos|made a week of salads in jars",
        things="containers|chili|sheet pans|overnight oats|grocery list|freezer|rice cooker",
        places="in the kitchen|at home|in the tiny apartment kitchen",
        details="the containers never have matching lids|the whole apartment smelled like garlic for two days"
        "|by Thursday the salads were a little sad|the freezer is now a game of tetris"
        "|the rice cooker did most of the work|it took the whole afternoon but saved the week",
        feelings="prepping ahead saves my weekday sanity|eating the same lunch five days is a small price"
        "|a full fridge makes me feel weirdly calm",
        plans="try prepping breakfasts too|buy proper glass containers|learn a few new sauces"
        "|stop ordering takeout on Fridays",
        habits="cook everything on Sunday afternoon|label containers with the day|make a grocery list every Saturday"
        "|keep a spreadsheet of easy recipes",
        questions="What did {who} cook for the week?|How does {who} handle meal prep?"
        "|What is {who} making for lunches?",
        brief="preps a week of meals every Sunday|plans every lunch of the week in advance",
    ),
    _theme(
        "commute", "routine", False, "commute train bus drive traffic subway transit",
        refs="the commute|getting to work|the drive in|public transit",
        acts="sat in traffic for an hour on the highway|switched to taking the early train"
        "|missed the bus and walked the whole way|started biking part of the way to work"
        "|carpooled with a coworker for the first time|found a shortcut through the old neighborhood",
        things="train|bus pass|carpool|audiobook|highway|parking garage|travel mug",
        places="on the highway|on the early train|at the bus stop|on the bridge downtown",
        details="the train stopped in a tunnel for twenty minutes|the bus driver knows everyone by name"
        "|a detour sent everyone through a cornfield|the parking garage raised its rates again"
        "|an audiobook made the traffic almost bearable|someone's dog sat next to me the whole ride",
        feelings="a bad commute can ruin a good morning|the quiet train ride is my thinking time"
        "|I would pay a lot to never see that highway again",
        plans="ask about working from home on Fridays|try the express bus|move closer to the office someday"
        "|finish the audiobook series",
        habits="leave twenty minutes early to beat traffic|listen to audiobooks on the drive|read on the train"
        "|grab coffee at the station",
        questions="What happened on {who}'s commute?|How does {who} get to work these days?"
        "|What is the drive to work like for {who}?",
        brief="turns a long commute into audiobook time|rides the early train to the {workplace}",
    ),
    _theme(
        "dog_walking", "routine", True, "dog puppy walk pet leash park animal",
        refs="dog walks|walking the dog|the dog|the evening walks",
        acts="walked the dog on the long river loop|took the puppy to the dog park for the first time"
        "|bought a new harness that actually fits|signed the dog up for obedience class"
        "|found a new trail the dog loves|let the dog meet the neighbor's cat",
        things="dog|leash|harness|treat pouch|dog park|tennis ball|puppy",
        places="at the dog park|around the block|on the river loop|through the neighborhood",
        details="the dog rolled in something unspeakable|a squirrel nearly pulled my arm off"
        "|every neighbor stops to pet the dog|the puppy fell asleep halfway home"
        "|the tennis ball ended up in the pond again|the dog refused to walk past a garbage can",
        feelings="the dog is the best alarm clock I have ever had|walking the dog is my daily reset"
        "|a tired dog is a happy dog",
        plans="take the dog hiking in the mountains|try agility classes|find a good dog sitter"
        "|walk a new route every week",
        habits="walk the dog twice a day|carry treats in every jacket pocket|take the dog to the park on Sundays"
        "|stop at the same bench every evening",
        questions="How are {who}'s dog walks going?|What did {who} say about the dog?"
        "|Where does {who} take the dog?",
        brief="walks a goofy rescue dog every evening|never misses the daily dog park visit",
    ),
    _theme(
        "yoga", "routine", True, "yoga stretch meditat mindful breath flexib pilates",
        refs="yoga|stretching|yoga class|the morning practice",
        acts="took a hot yoga class downtown|held a headstand for the first time|did a full hour of stretching"
        "|joined a sunrise yoga session in the park|tried a guided meditation after class"
        "|bought a thicker yoga mat",
        things="yoga mat|headstand|hot yoga class|breathing exercises|foam blocks|balance poses",
        places="at the yoga studio|in the park|in the living room|at the community center",
        details="the room was so hot my glasses fogged up|the instructor had the calmest voice ever"
        "|I fell out of tree pose twice|someone snored during the final relaxation"
        "|my back felt better than it has in months|the mat slid around the whole class",
        feelings="yoga is the only time my brain goes quiet|flexibility comes slowly but it comes"
        "|breathing properly changes everything",
        plans="try a weekend yoga retreat|practice every morning for a month|learn a proper crow pose"
        "|take a beginner meditation course",
        habits="stretch for fifteen minutes every morning|go to yoga class on Tuesdays|meditate before bed"
        "|roll out the mat in the living room",
        questions="What is {who} learning in yoga?|How does {who} stretch and unwind?"
        "|What did {who} say about the yoga class?",
        brief="starts every day with yoga|swears by a weekly hot yoga class",
    ),
    _theme(
        "work_shift", "routine", False, "shift work job office team manager project coworker",
        refs="work|the job|the shift at work|things at the {workplace}",
        acts="covered a double shift at the {workplace}|trained a new coworker all week"
        "|finished a big project right before the deadline|got called in early to the {workplace}"
        "|led the team meeting for the first time|stayed late to fix a scheduling mess",
        things="double shift|new coworker|project deadline|schedule|team meeting|break room",
        places="at the {workplace}|at work|on the late shift",
        details="the coffee machine broke on the busiest day|my manager finally said thank you"
        "|the new coworker asks great questions|the schedule changed three times in one day"
        "|someone brought donuts and saved the morning|the printer jammed at the worst moment",
        feelings="a good team makes a hard job easier|I am tired but proud of that week"
        "|work is fine as long as nobody schedules meetings at five",
        plans="ask for a raise at the next review|take a proper vacation day|train for the new role"
        "|finally clean out my inbox",
        habits="get to the {workplace} before everyone else|pack lunch the night before"
        "|write a to-do list every morning"
        "|take a short walk on my break",
        questions="How has work been for {who}?|What happened at work for {who}?"
        "|What did {who} say about the job?",
        brief="works long shifts at the {workplace}|is the calm one when the {workplace} gets busy",
    ),
    _theme(
        "morning_coffee", "routine", True, "coffee espresso cafe latte bean brew tea",
        refs="coffee|the morning coffee|the coffee routine|espresso",
        acts="bought a secondhand espresso machine|tried a new café on the corner|learned to make latte art"
        "|switched to grinding beans by hand|ordered beans from a small roaster|gave up sugar in coffee",
        things="espresso machine|grinder|beans|latte art|café|French press|travel mug",
        places="at the new café on the corner|in the kitchen|at the coffee cart by the station",
        details="the first latte art looked like a sad potato|the barista remembered my order"
        "|the grinder is louder than a leaf blower|the beans smelled like chocolate"
        "|the café plays old jazz records|the machine hisses like a steam train",
        feelings="the first sip is the best moment of the morning|good coffee is worth the extra minutes"
        "|a café is the best place to think",
        plans="try a pour-over setup|visit the roaster in person|cut back to two cups a day"
        "|learn to make a proper cappuccino",
        habits="make coffee before anyone else is up|drink coffee on the porch|grind beans every morning"
        "|bring a thermos to work",
        questions="How does {who} take the morning coffee?|What is {who}'s coffee routine like?"
        "|What did {who} say about the new café?",
        brief="takes morning coffee very seriously|knows every small café in town",
    ),
    _theme(
        "swimming", "routine", True, "swim pool lap water lake ocean",
        refs="swimming|laps at the pool|the pool|open water swimming",
        acts="swam forty laps at the community pool|tried the butterfly stroke and nearly drowned"
        "|joined a masters swim group|swam across the lake with a friend|got new goggles that do not leak"
        "|learned flip turns",
        things="goggles|swim cap|lap lane|flip turns|kickboard|pool schedule",
        places="at the community pool|in the lake|at the YMCA|at the outdoor pool",
        details="the lap lane was packed with teenagers|the water was colder than promised"
        "|the lifeguard blew the whistle at me twice|chlorine smell stays in my hair for days"
        "|a grandmother lapped me without breaking a sweat|the pool closed early for a storm",
        feelings="swimming is the only exercise that does not hurt my knees|underwater everything goes quiet"
        "|a long swim makes me sleep like a baby",
        plans="swim a full mile without stopping|try an open water race|learn proper breathing on both sides"
        "|join the early lap group",
        habits="swim laps before work|pack the swim bag the night before|count laps out loud"
        "|swim on Saturdays at the lake",
        questions="How is {who}'s swimming going?|Where does {who} swim laps?"
        "|What did {who} say about the pool?",
        brief="swims laps before work most days|loves open water swims in summer",
    ),
    _theme(
        "cycling", "routine", True, "bike cycl ride wheel pedal trail",
        refs="cycling|bike rides|the bike|riding",
        acts="rode thirty miles on the rail trail|fixed a flat tire on the side of the road"
        "|bought a used road bike|biked to work for the first time|joined a group ride on Saturday"
        "|climbed the big hill without stopping",
        things="road bike|flat tire|helmet|bike lane|rail trail|chain|saddle",
        places="on the rail trail|on the bike lane downtown|along the coast road|through the farmland",
        details="a dog chased me for half a mile|the chain kept slipping on hills"
        "|the headwind was brutal on the way back|the group stopped for pie halfway"
        "|my legs felt like jelly the next day|a truck honked and scared me half to death",
        feelings="cycling makes a city feel smaller and friendlier|nothing beats coasting downhill"
        "|a bike is freedom on two wheels",
        plans="ride a century someday|learn to fix my own brakes|bike to work twice a week"
        "|try a bikepacking trip",
        habits="ride on Saturday mornings|check the tire pressure before every ride|bike to the grocery store"
        "|carry a patch kit everywhere",
        questions="Where has {who} been riding lately?|What happened on {who}'s bike ride?"
        "|How is {who} getting on with cycling?",
        brief="rides a bike everywhere around town|does long weekend rides on the rail trail",
    ),
    _theme(
        "evening_reading", "routine", True, "read book novel library fiction mystery",
        refs="reading|books|the novel|bedtime reading",
        acts="finished a thick historical novel in one weekend|got a library card at the new branch"
        "|started a mystery series everyone recommended|stayed up until two reading|reread an old favorite"
        "|bought a stack of paperbacks at a yard sale",
        things="historical novel|library card|mystery series|paperbacks|reading lamp|bookmark",
        places="at the library|on the couch|in bed|at the used bookstore",
        details="the twist in chapter twelve made me gasp out loud|the library fine was only a quarter"
        "|the main character reminds me of my aunt|I fell asleep with the book on my face"
        "|the ending was a total letdown|the used copy had someone's notes in the margins",
        feelings="a good book is better than any show|reading before bed keeps me sane"
        "|libraries are the best thing a town can have",
        plans="read one book a month|start a reading list for the summer|finish the whole series"
        "|try audiobooks for the car",
        habits="read for half an hour before bed|keep a book in my bag|visit the library every Saturday"
        "|write down favorite lines",
        questions="What has {who} been reading?|What book did {who} talk about?"
        "|How does {who} unwind at night?",
        brief="reads historical fiction every night|has a library card worn thin from use",
    ),
    _theme(
        "sunday_reset", "routine", False, "plan organiz schedule calendar list journal",
        refs="Sunday planning|the weekly reset|organizing the week|planning",
        acts="planned the whole week in a paper calendar|reorganized the family schedule"
        "|started a bullet journal|cleaned out the email inbox|wrote goals for the month"
        "|sorted every bill into folders",
        things="paper calendar|bullet journal|to-do list|sticky notes|weekly plan|color pens",
        places="at the kitchen table|at the desk|at a quiet café",
        details="the calendar now has four colors of ink|half the to-do list was from last month"
        "|the sticky notes fell off the fridge|the week already looked lighter on paper"
        "|the journal has more doodles than plans|I found three overdue library books",
        feelings="a planned week feels half done already|writing things down calms me"
        "|Sunday evening is my favorite hour of the week",
        plans="try a digital planner|stick to the plan for a full month|plan meals in the same session"
        "|set one big goal each week",
        habits="plan the week every Sunday evening|keep a to-do list by the door|review the calendar every morning"
        "|color-code everything",
        questions="How does {who} organize the week?|What does {who}'s planning routine look like?"
        "|What did {who} say about planning ahead?",
        brief="plans every week on Sunday evenings|lives by a color-coded paper calendar",
    ),
    # ---------------------------------------------------------------- social
    _theme(
        "family_dinner", "social", True, "family dinner sister brother cousin grandma parent",
        refs="the family dinner|family get-togethers|dinner with the family|relatives",
        acts="hosted the whole family for Sunday dinner|cooked grandma's lasagna for twelve people"
        "|drove across the state for a family dinner|sat at the kids' table as an adult"
        "|settled an old argument between cousins|brought a new dish to the family meal",
        things="lasagna|kids' table|cousins|dessert|seating chart|leftovers",
        places="at my parents' house|at my sister's place|at home|at the old family farm",
        details="my uncle told the same story for the fifth year in a row|the dog stole a dinner roll"
        "|three cousins showed up without calling|the leftovers lasted a whole week"
        "|grandma pretended not to like the new recipe|someone brought up politics and the room went silent",
        feelings="family dinners are chaotic but I would not skip one|food tastes better at a crowded table"
        "|it is good to see everyone in one room",
        plans="host the holiday dinner this year|start a monthly family dinner|learn grandma's recipes properly"
        "|make a family cookbook",
        habits="call my mom every Sunday|bring dessert to every family dinner|set the table early"
        "|save leftovers for my neighbor",
        questions="What happened at {who}'s family dinner?|How was the family get-together for {who}?"
        "|What did {who} say about the relatives?",
        brief="hosts big family dinners every month|is the glue of a large, loud family",
    ),
    _theme(
        "birthday_party", "social", True, "party birthday celebrat cake surprise",
        refs="the birthday party|the celebration|the party|birthdays",
        acts="threw a surprise party for a close friend|baked a three-layer birthday cake"
        "|decorated the backyard with string lights|organized a karaoke birthday night"
        "|hid twenty guests in the living room|planned a party game for the kids",
        things="birthday cake|string lights|karaoke machine|balloons|gift|party playlist",
        places="in the backyard|at a bowling alley|at the neighbor's house|at a karaoke bar",
        details="the guest of honor nearly walked in too early|the candles set off the smoke alarm"
        "|everyone sang badly but loudly|the cake leaned like a tower in Pisa"
        "|someone brought a piñata shaped like a llama|we ran out of ice in an hour",
        feelings="surprise parties are stressful but worth it|there is no such thing as too many balloons"
        "|seeing someone truly surprised is priceless",
        plans="plan a themed party next year|rent a karaoke machine again|bake a smaller cake"
        "|keep the guest list shorter",
        habits="write every birthday on the calendar|bake cakes for friends|make a party playlist"
        "|buy cards months ahead",
        questions="How did the birthday party go for {who}?|What did {who} plan for the celebration?"
        "|What happened at the party {who} mentioned?",
        brief="throws the best surprise parties in the group|never forgets a birthday",
    ),
    _theme(
        "coffee_catchup", "social", True, "friend catch talk chat brunch",
        refs="catching up with an old friend|the coffee catch-up|old friends|brunch with a friend",
        acts="met an old college friend for brunch|caught up with a former roommate over coffee"
        "|reconnected with a childhood friend|spent three hours talking at a diner"
        "|visited a friend who just moved back to town|had a long phone call with a friend abroad",
        things="brunch|old friend|diner|college memories|photos|pancakes",
        places="at the diner|at a café downtown|at the farmers market|at a brunch spot",
        details="we laughed so hard the waiter came over to check on us|the pancakes were the size of plates"
        "|my friend has three kids now|it felt like no time had passed"
        "|we found an old photo from a camping trip|the diner still has the same jukebox",
        feelings="old friends are the best kind of friends|a long talk can fix a whole week"
        "|I forget how much I miss people until I see them",
        plans="meet up every month|plan a weekend trip together|call more often"
        "|visit my friend's new city",
        habits="text old friends on their birthdays|meet a friend for brunch every few weeks"
        "|keep old photos in a shoebox|write letters to a friend overseas",
        questions="Who did {who} catch up with recently?|What did {who} say about the old friend?"
        "|How was the catch-up for {who}?",
        brief="keeps in touch with friends from every chapter of life|loves long brunches with old friends",
    ),
    _theme(
        "wedding", "social", True, "wedding bride groom marri dance ceremony",
        refs="the wedding|the ceremony|the reception|weddings",
        acts="gave a toast at a cousin's wedding|danced until midnight at the reception"
        "|helped set up chairs for the ceremony|caught the bouquet by accident|drove four hours for a wedding"
        "|wore a rented suit that barely fit",
        things="toast|reception|bouquet|dance floor|rented suit|wedding cake|ceremony",
        places="at a vineyard|at a barn venue|at the church downtown|at a lake lodge",
        details="the DJ played the same song three times|the flower girl stole the show"
        "|it rained right after the vows|the cake had five flavors"
        "|the best man forgot his speech|the dance floor was packed until the lights came on",
        feelings="weddings always make me cry a little|a good toast is short and honest"
        "|I love seeing families mix on the dance floor",
        plans="learn to dance properly before the next wedding|keep the toast under two minutes"
        "|buy a suit that actually fits|help plan my sister's wedding",
        habits="cry at every wedding|write toasts on note cards|dance with the grandmothers"
        "|send a handwritten card afterward",
        questions="What happened at the wedding {who} went to?|What did {who} do at the reception?"
        "|How was the ceremony for {who}?",
        brief="is everyone's favorite wedding guest|gives heartfelt toasts at weddings",
    ),
    _theme(
        "neighborhood_bbq", "social", True, "grill bbq barbecue neighbor block smoker",
        refs="the neighborhood barbecue|the block party|grilling with the neighbors|the cookout",
        acts="grilled burgers for the whole block|brought a potato salad to the cookout"
        "|met the new neighbors at the block party|smoked ribs for eight hours"
        "|set up folding tables in the street|ran the grill while everyone watched the game",
        things="grill|ribs|potato salad|folding tables|smoker|burgers|cooler",
        places="in the cul-de-sac|in the neighbor's backyard|at the park pavilion|on the street",
        details="the kids set up a lemonade stand|the ribs fell off the bone"
        "|someone's uncle argued about charcoal versus gas|the cooler tipped over in the driveway"
        "|the new neighbors brought homemade salsa|the fireflies came out right at dusk",
        feelings="a cookout is the best way to meet neighbors|smoke and music make a good summer night"
        "|everyone is friendlier with a plate of food",
        plans="organize a block party every summer|buy a bigger smoker|try grilling fish"
        "|invite the whole street next time",
        habits="grill on Friday nights|bring a side dish to every cookout|keep extra chairs in the garage"
        "|wave at every neighbor",
        questions="What did {who} make for the cookout?|How was the neighborhood barbecue for {who}?"
        "|What happened at the block party {who} mentioned?",
        brief="runs the grill at every block party|smokes ribs for the neighbors",
    ),
    _theme(
        "game_night", "social", True, "board game card trivia poker puzzle game",
        refs="game night|board games|trivia night|card games",
        acts="won trivia night at the pub|hosted a board game night with friends"
        "|learned a complicated strategy game|lost badly at poker|played cards until midnight"
        "|bought a new party game",
        things="board game|trivia team|poker chips|scorecard|card deck|game rules",
        places="at the pub|at a friend's apartment|at the game café|at the kitchen table",
        details="the rules took longer to read than the game took to play|one question about rivers won us the night"
        "|someone flipped the board in mock rage|the snacks disappeared in ten minutes"
        "|the new game caused at least two arguments|I bluffed with nothing and it worked",
        feelings="game nights bring out everyone's competitive side|losing is fine if the snacks are good"
        "|trivia is the only place useless facts pay off",
        plans="start a monthly game night|learn chess openings|find a sixth player for the team"
        "|try a legacy board game",
        habits="host game night on Fridays|keep a shelf of board games|play trivia every Tuesday"
        "|bring snacks to every game night",
        questions="How did game night go for {who}?|What games has {who} been playing?"
        "|What did {who} say about trivia night?",
        brief="captains the pub trivia team|owns a wall of board games",
    ),
    _theme(
        "volunteering", "social", True, "volunteer shelter food bank charity nonprofit community",
        refs="volunteering|the food bank|helping out in the community|the charity shift",
        acts="volunteered at the food bank all morning|walked dogs at the animal shelter"
        "|helped clean up the riverbank|tutored kids at the library|sorted donated coats"
        "|served lunch at the community kitchen",
        things="food bank|animal shelter|donated coats|tutoring|riverbank cleanup|volunteer shirt",
        places="at the food bank|at the animal shelter|at the community kitchen|at the library",
        details="we packed over three hundred boxes|one shy dog finally let me pet him"
        "|a kid solved a math problem and cheered|the line was out the door by noon"
        "|someone donated a brand new winter coat|we pulled a shopping cart out of the river",
        feelings="volunteering gives more than it takes|I always leave tired but happy"
        "|small help adds up faster than people think",
        plans="volunteer every other weekend|bring a friend next time|start a coat drive at work"
        "|train as a volunteer coordinator",
        habits="volunteer on Saturday mornings|donate clothes every season|tutor kids after work"
        "|keep spare cans for the food drive",
        questions="Where has {who} been volunteering?|What did {who} do at the volunteer shift?"
        "|How does {who} help out in the community?",
        brief="volunteers at the food bank every weekend|helps out wherever the community needs hands",
    ),
    _theme(
        "book_club", "social", True, "book club discuss novel author read",
        refs="book club|the book discussion|this month's book|the reading group",
        acts="hosted book club for the first time|argued about the ending with the whole group"
        "|picked a sci-fi novel for the club|finished the book the night before the meeting"
        "|invited the author to a video call|brought wine and cheese to book club",
        things="book club|ending|discussion questions|author|cheese plate|reading list",
        places="at a friend's living room|at the library meeting room|at a wine bar",
        details="half the group did not finish the book|the ending split us right down the middle"
        "|we talked about the book for ten minutes and gossip for two hours|someone cried at the last chapter"
        "|the author answered every question|the cheese plate was the real star",
        feelings="book club is really a friendship club|arguing about a book is strangely fun"
        "|I read things I would never pick myself",
        plans="suggest a mystery for next month|host again in the spring|read a classic together"
        "|start a second club at work",
        habits="read the book club pick on my lunch break|write questions in the margins"
        "|bring snacks to every meeting|take notes on my phone",
        questions="What did {who}'s book club discuss?|What does {who} think of the book club pick?"
        "|How did book club go for {who}?",
        brief="runs a lively neighborhood book club|never misses the monthly book club",
    ),
    _theme(
        "visiting_parents", "social", False, "parent mom dad mother father visit home grandpa",
        refs="visiting the parents|the trip home|time with mom and dad|the parents",
        acts="drove home to visit the parents for the weekend|fixed the parents' leaky roof"
        "|took mom to her doctor appointment|helped dad set up his new phone"
        "|went through old boxes in the attic|cooked dinner for the parents",
        things="attic boxes|new phone|old bedroom|photo albums|porch swing|garden shed",
        places="at my parents' house|back home|in my old hometown",
        details="dad still has my high school trophies on the shelf|mom insisted on feeding me four times a day"
        "|the attic had my old comic books|the new phone had three hundred notifications"
        "|we sat on the porch swing until dark|the hometown diner closed down",
        feelings="going home makes me feel like a kid again|parents get older faster than you expect"
        "|those visits matter more every year",
        plans="visit every month|teach dad to video call|help them downsize the house"
        "|record my grandfather's stories",
        habits="call my parents every Sunday|drive home for every holiday|send photos to my mom"
        "|bring groceries when I visit",
        questions="How was {who}'s visit with the parents?|What did {who} do back home?"
        "|What did {who} say about mom and dad?",
        brief="drives home to see aging parents every month|is the family's tech support",
    ),
    _theme(
        "helping_move", "social", True, "move moving box apartment truck help",
        refs="the move|helping a friend move|moving day|the new apartment",
        acts="helped a friend move into a third-floor apartment|rented a moving truck for the day"
        "|carried a couch up three flights of stairs|packed forty boxes in one night"
        "|assembled a bookshelf with missing screws|drove the moving truck across town",
        things="moving truck|couch|boxes|bookshelf|stairs|packing tape",
        places="at the new apartment|across town|at the storage unit",
        details="the couch got stuck in the stairwell for an hour|we ran out of packing tape twice"
        "|the pizza afterward was the best meal of the year|my back will never forgive me"
        "|the new place has a huge window|someone labeled every box 'misc'",
        feelings="moving is the true test of friendship|pizza is the only fair payment for moving help"
        "|I never want to see another box",
        plans="help with the housewarming|buy a proper dolly|never live above the second floor"
        "|label my own boxes better",
        habits="help friends move when they ask|keep a toolbox in the car|save boxes in the garage"
        "|bring pizza for the helpers",
        questions="How did the move go for {who}?|What did {who} carry on moving day?"
        "|What happened when {who} helped with the move?",
        brief="always shows up when a friend needs help moving|is the friend with a truck",
    ),
    _theme(
        "date_night", "social", True, "date dinner partner restaurant romantic",
        refs="date night|the dinner date|a night out|the new restaurant",
        acts="went on a date to a new Thai restaurant|cooked a fancy dinner at home for a date"
        "|planned a surprise picnic|tried a salsa dancing class on a date|went to a drive-in movie"
        "|finally booked the steakhouse everyone talks about",
        things="Thai restaurant|picnic blanket|salsa class|drive-in movie|dessert menu|candles",
        places="at a new Thai restaurant|at the drive-in|by the lake|at the steakhouse downtown",
        details="the waiter was charmingly clumsy|the movie was terrible but the popcorn was great"
        "|we split three desserts|the salsa teacher made us switch partners"
        "|a sudden rain shower ended the picnic early|the candles kept blowing out",
        feelings="small dates are the best dates|trying something new together is fun"
        "|a good night out can reset a busy month",
        plans="make date night a weekly thing|try the cooking class for couples|go dancing again"
        "|book a weekend away",
        habits="plan a date night every Friday|try a new restaurant each month|keep a list of date ideas"
        "|cook dinner together on Sundays",
        questions="How was {who}'s date night?|Where did {who} go for the night out?"
        "|What did {who} say about the dinner date?",
        brief="plans creative date nights|loves trying new restaurants on date night",
    ),
    _theme(
        "concert", "social", True, "concert music band festival jazz metal rock show",
        refs="the concert|live music|the show|the band",
        acts="saw a favorite band play live downtown|stood in the front row at a jazz club"
        "|went to a small folk festival|bought tickets to a metal show|danced through a whole set"
        "|met the drummer after the show",
        things="front row|jazz club|setlist|tickets|encore|band shirt",
        places="at the amphitheater|at a tiny jazz club|at the festival grounds|at the old theater",
        details="the encore lasted twenty minutes|my ears were ringing until morning"
        "|the opening band was better than the headliner|the crowd sang every word"
        "|the merch line was longer than the bathroom line|it started pouring during the last song",
        feelings="live music hits different|a great show makes the whole month better"
        "|small venues are the best venues",
        plans="go to a festival this summer|see the band again on their next tour|learn the songs on guitar"
        "|buy tickets before they sell out",
        habits="go to a concert every month|collect ticket stubs|listen to the band's albums in the car"
        "|check the venue calendar every week",
        questions="What concert did {who} go to?|How was the show for {who}?"
        "|What did {who} say about live music?",
        brief="never misses a live show downtown|follows small bands to tiny venues",
    ),
    _theme(
        "community_meeting", "social", False, "council meeting town city local politic neighborhood",
        refs="the town meeting|local politics|the neighborhood association|city council",
        acts="spoke at the city council meeting|joined the neighborhood association"
        "|signed a petition for a new crosswalk|organized a meeting about the park"
        "|listened to a three-hour zoning debate|volunteered to take the meeting notes",
        things="city council|crosswalk petition|zoning debate|park plan|meeting notes|microphone",
        places="at city hall|at the library meeting room|at the community center",
        details="the microphone squealed every time I spoke|the crosswalk finally got approved"
        "|an old man brought charts about potholes|the meeting ran two hours over"
        "|a neighbor brought cookies to calm everyone down|the zoning map was impossible to read",
        feelings="local politics matters more than people think|showing up is half the battle"
        "|those meetings test my patience",
        plans="run for the neighborhood board|start a petition for a dog park|attend every meeting this year"
        "|bring more neighbors next time",
        habits="read the city council agenda|attend the monthly meeting|email the council member"
        "|sign up for public comment",
        questions="What did {who} say at the town meeting?|What is {who} doing in local politics?"
        "|How did the neighborhood meeting go for {who}?",
        brief="speaks up at every city council meeting|is active in the neighborhood association",
    ),
    # ---------------------------------------------------------------- hobby
    _theme(
        "gardening", "hobby", True, "garden plant grow flower vegetable soil herb tomato compost",
        refs="gardening|the garden|growing vegetables|backyard planting",
        acts="planted a row of heirloom tomatoes|built two cedar raised beds|spread a fresh layer of mulch"
        "|repotted the basil seedlings|harvested the first zucchini of the season|started a compost pile"
        "|pulled weeds for three straight hours",
        things="tomato plants|raised beds|compost pile|basil|seedlings|zucchini|watering can",
        places="at the community garden|in the backyard|at the garden center|on the balcony",
        details="the slugs got into the lettuce again|a neighbor dropped off a bag of worm castings"
        "|the zucchini are taking over everything|a hailstorm flattened half the peppers"
        "|the bees love the lavender|the hose sprang a leak in three places",
        feelings="there is nothing like eating something you grew yourself|gardening slows my brain down"
        "|dirt under my nails means a good day",
        plans="try growing peppers next spring|add a trellis for the beans|plant a pollinator strip"
        "|build a small greenhouse",
        habits="water everything before breakfast|keep a garden journal|save seeds every fall"
        "|check for pests every evening",
        questions="What is {who} growing in the garden?|How is {who}'s garden coming along?"
        "|What has {who} planted this season?",
        brief="loves tending a vegetable garden|grows heirloom tomatoes every summer",
    ),
    _theme(
        "baking", "hobby", True, "bake bread cake cookie pie pastry sourdough oven",
        refs="baking|sourdough|homemade bread|desserts",
        acts="baked a loaf of sourdough from scratch|made a lemon meringue pie|tried croissants for the first time"
        "|baked six dozen cookies for a bake sale|finally got the bread to rise properly"
        "|decorated a cake with buttercream roses",
        things="sourdough starter|loaf|lemon pie|croissants|stand mixer|cookies|oven",
        places="in the kitchen|at a baking class|at the church bake sale",
        details="the starter bubbled over the jar|the croissants came out flat but tasty"
        "|flour ended up on the ceiling somehow|the oven runs twenty degrees hot"
        "|the kitchen smelled amazing all day|the meringue wept in the humidity",
        feelings="baking is chemistry you can eat|warm bread fixes almost anything"
        "|a failed loaf still teaches you something",
        plans="master a proper baguette|enter the county fair pie contest|bake bread every week"
        "|take a pastry class",
        habits="feed the sourdough starter every morning|bake on Sunday afternoons|give loaves to neighbors"
        "|weigh every ingredient",
        questions="What has {who} been baking?|How did {who}'s bread turn out?"
        "|What did {who} bake recently?",
        brief="bakes sourdough bread on weekends|keeps a sourdough starter alive for years",
    ),
    _theme(
        "painting", "hobby", True, "paint watercolor canvas art brush draw sketch mural",
        refs="painting|watercolors|the art projects|sketching",
        acts="painted a watercolor of the harbor|finished a large canvas for the living room"
        "|took a portrait painting workshop|sketched people at the park|tried oil paints for the first time"
        "|sold a small painting at the craft fair",
        things="watercolor|canvas|brushes|sketchbook|oil paints|easel|palette",
        places="at the art studio|by the harbor|on the back porch|at the community art class",
        details="the colors bled into each other in a happy accident|a kid asked if I was famous"
        "|the wind kept flipping the sketchbook pages|the oil paint took a week to dry"
        "|the portrait looked like my uncle instead of the model|the easel collapsed mid-stroke",
        feelings="painting makes me notice light everywhere|a blank canvas is scary and exciting"
        "|art does not have to be perfect to be good",
        plans="paint one small piece every day|try a mural someday|take a figure drawing class"
        "|frame a few pieces for the hallway",
        habits="carry a sketchbook everywhere|paint on Sunday mornings|clean brushes right away"
        "|take photos of scenes to paint later",
        questions="What has {who} been painting?|What art project did {who} describe?"
        "|How is {who}'s painting going?",
        brief="paints watercolor landscapes on weekends|always carries a sketchbook",
    ),
    _theme(
        "photography", "hobby", True, "photo camera lens picture film shoot",
        refs="photography|the camera|taking pictures|photo walks",
        acts="shot a whole roll of film downtown|bought a secondhand camera lens"
        "|photographed the sunrise from the ridge|entered a local photo contest|printed photos for the first time"
        "|went on a night photography walk",
        things="camera lens|film roll|tripod|photo contest|prints|zoom lens",
        places="downtown|on the ridge|by the old train station|at the harbor",
        details="the light hit the buildings just right|a pigeon photobombed the best shot"
        "|half the roll came out overexposed|the tripod sank into the mud"
        "|a stranger asked for a portrait|the prints looked better than on screen",
        feelings="a camera makes me look at the world differently|the best light lasts about five minutes"
        "|film teaches patience",
        plans="build a small darkroom|shoot a portrait series|print a photo book"
        "|learn manual exposure properly",
        habits="take the camera on every walk|shoot at golden hour|back up photos every week"
        "|carry spare batteries",
        questions="What has {who} been photographing?|How is {who}'s photography going?"
        "|What did {who} say about the camera?",
        brief="photographs old buildings and street scenes|never leaves home without a camera",
    ),
    _theme(
        "hiking", "hobby", True, "hike trail mountain summit outdoor nature park backpack",
        refs="hiking|the trail|the mountains|the hike",
        acts="hiked to the summit of the ridge trail|got lost on a trail for an hour"
        "|saw a black bear on the path|hiked ten miles to a waterfall|bought new hiking boots"
        "|camped overnight at the trailhead",
        things="summit|hiking boots|trail map|waterfall|backpack|trekking poles",
        places="on the ridge trail|in the state park|up in the mountains|at the canyon",
        details="the view from the top was unreal|my boots filled with creek water"
        "|a chipmunk stole a granola bar|the last mile was straight uphill"
        "|the wildflowers were everywhere|we had to turn back because of thunder",
        feelings="the mountains make every problem look small|a tired body and a quiet mind is the goal"
        "|nothing tastes better than a sandwich at a summit",
        plans="hike a fourteener next summer|try a multi-day backpacking trip|hike every trail in the county"
        "|get a proper water filter",
        habits="hike every Saturday morning|check the weather twice before a hike|pack extra socks"
        "|keep a trail log",
        questions="Where did {who} go hiking?|What happened on {who}'s hike?"
        "|What trails has {who} been exploring?",
        brief="hikes mountain trails every weekend|knows every trail in the county",
    ),
    _theme(
        "fishing", "hobby", True, "fish lake river trout boat bait",
        refs="fishing|the fishing trip|the lake|trout fishing",
        acts="caught a big rainbow trout at dawn|took the boat out on the lake|tied flies all evening"
        "|lost a huge fish right at the net|fished the river with an old friend|tried ice fishing",
        things="rainbow trout|fishing boat|fly rod|tackle box|bait|net",
        places="on the lake|at the river bend|off the pier|at the reservoir",
        details="the fog lifted right as the fish started biting|a heron watched us all morning"
        "|the line snapped at the worst moment|the boat motor would not start"
        "|we released everything we caught|the coffee in the thermos was the best ever",
        feelings="fishing is mostly waiting and I love it|the lake at dawn is my church"
        "|the ones that get away make the best stories",
        plans="teach my nephew to fish|try fly fishing in the mountains|fix up the old boat"
        "|fish a new lake every month",
        habits="fish on Saturday mornings|tie my own flies|keep the tackle box organized"
        "|check the lake report every week",
        questions="What did {who} catch on the fishing trip?|Where does {who} go fishing?"
        "|How was the lake for {who}?",
        brief="fishes for trout at dawn on quiet lakes|ties fishing flies by hand",
    ),
    _theme(
        "guitar", "hobby", True, "guitar music song play band instrument piano drum sing",
        refs="guitar|music practice|playing music|songwriting",
        acts="learned a new song on the guitar|played an open mic for the first time"
        "|wrote a folk song about the river|restrung the old acoustic|jammed with a neighbor on the porch"
        "|bought a used amplifier",
        things="acoustic guitar|open mic|new song|amplifier|chord chart|capo|strings",
        places="on the porch|at the coffee shop open mic|in the garage|at the music store",
        details="my fingers still hurt from the new chords|the crowd actually clapped along"
        "|I forgot the second verse halfway through|the amplifier hums when it rains"
        "|the neighbor brought a harmonica|the song is about my grandmother",
        feelings="playing music is the best kind of therapy|a sore fingertip means progress"
        "|a song is just a story with chords",
        plans="record a demo|learn fingerpicking|play three songs at the next open mic"
        "|start a little band",
        habits="practice guitar every evening|write lyrics in my notes app|play on the porch after dinner"
        "|change strings every few months",
        questions="What has {who} been playing on the guitar?|How is {who}'s music going?"
        "|What song did {who} mention?",
        brief="plays guitar on the porch every evening|writes folk songs about home",
    ),
    _theme(
        "knitting", "hobby", True, "knit crochet yarn sew quilt stitch craft",
        refs="knitting|the yarn projects|crochet|the sweater",
        acts="finished knitting a wool sweater|learned a new cable stitch|crocheted a blanket for a baby shower"
        "|bought way too much yarn at a craft fair|fixed a dropped stitch without unraveling everything"
        "|knitted hats for the shelter",
        things="wool sweater|cable stitch|yarn|needles|baby blanket|pattern",
        places="at the yarn shop|on the couch|at the knitting circle|at the craft fair",
        details="the sweater came out one sleeve longer than the other|the cat stole a ball of yarn"
        "|the pattern had a typo on row forty|the baby blanket made everyone tear up"
        "|the knitting circle gossip is legendary|the yarn shop owner gave me a discount",
        feelings="knitting keeps my hands busy and my mind calm|handmade gifts mean more"
        "|a finished project is the best feeling",
        plans="knit socks next|teach my niece to crochet|finish the blanket before winter"
        "|design my own pattern",
        habits="knit while watching TV|keep a project in my bag|go to the knitting circle on Thursdays"
        "|buy yarn on sale",
        questions="What is {who} knitting these days?|What did {who} make with yarn?"
        "|How is {who}'s knitting project going?",
        brief="knits sweaters for the whole family|never goes anywhere without a knitting project",
    ),
    _theme(
        "chess", "hobby", True, "chess puzzle strategy tournament crossword",
        refs="chess|the chess club|chess games|the tournament",
        acts="won three games at the chess club|studied a new opening all week|played in a local tournament"
        "|lost to a ten-year-old prodigy|solved a hard chess puzzle|taught a friend the basics",
        things="chess club|opening|tournament|rating|chessboard|endgame",
        places="at the library chess club|at the park tables|online|at the café",
        details="the ten-year-old did not even blink|my rating went up by forty points"
        "|I blundered the queen on move twelve|the clock ran down to two seconds"
        "|an old man at the park gives free lessons|the endgame took an hour",
        feelings="chess is a war without anyone getting hurt|losing teaches more than winning"
        "|a quiet board is my happy place",
        plans="reach a higher rating|play in the state tournament|study endgames every week"
        "|start a chess club at work",
        habits="play a game every night|solve puzzles with my coffee|go to chess club on Wednesdays"
        "|review my losses",
        questions="How did {who} do at chess?|What is {who} studying in chess?"
        "|What did {who} say about the tournament?",
        brief="plays chess at the library club every week|studies chess openings for fun",
    ),
    _theme(
        "pottery", "hobby", True, "pottery clay ceramic wheel kiln glaze",
        refs="pottery|the pottery class|ceramics|the wheel",
        acts="threw a bowl on the wheel|glazed a set of mugs|took a pottery class at the studio"
        "|finally centered the clay properly|made a vase that survived the kiln|sold mugs at a market",
        things="pottery wheel|mugs|glaze|kiln|vase|clay|bowl",
        places="at the pottery studio|at the community center|at the craft market",
        details="the bowl collapsed twice before it worked|the glaze turned a surprising shade of green"
        "|the kiln cracked one of the mugs|clay got absolutely everywhere"
        "|the teacher makes it look effortless|the vase is a little lopsided but charming",
        feelings="pottery teaches patience the hard way|holding something you made is amazing"
        "|the wheel forces you to slow down",
        plans="make a full set of plates|buy a small wheel for the garage|try raku firing"
        "|sell at the holiday market",
        habits="go to the studio on Wednesday nights|glaze everything in blue|give mugs as gifts"
        "|wedge the clay carefully",
        questions="What has {who} made at the pottery studio?|How is {who} doing with ceramics?"
        "|What did {who} say about the pottery class?",
        brief="throws pottery at a local studio|gives handmade mugs as gifts",
    ),
    _theme(
        "birdwatching", "hobby", True, "bird binocular wildlife owl hawk wetland",
        refs="birdwatching|the birds|bird counts|the wetlands",
        acts="spotted a rare owl at the wetlands|joined the winter bird count|bought new binoculars"
        "|built a bird feeder for the yard|photographed a red-tailed hawk|identified a warbler by its song",
        things="binoculars|owl|bird feeder|field guide|bird count|warbler",
        places="at the wetlands|in the backyard|at the nature preserve|along the marsh trail",
        details="the owl stared right at me for a full minute|squirrels raided the feeder within an hour"
        "|the bird count started at six in the morning|a hawk landed on the fence post"
        "|the warbler would not sit still|the marsh was full of mosquitoes",
        feelings="birdwatching makes me feel patient|every walk becomes a treasure hunt"
        "|spotting a new bird never gets old",
        plans="see fifty species this year|join a birding trip to the coast|build a second feeder"
        "|learn more bird songs",
        habits="check the feeder every morning|keep a bird list|carry binoculars in the car"
        "|go to the preserve on Sundays",
        questions="What birds has {who} spotted?|Where does {who} go birdwatching?"
        "|What did {who} say about the birds?",
        brief="goes birdwatching at the wetlands|keeps a list of every bird spotted",
    ),
    _theme(
        "woodworking", "hobby", True, "wood carpentry build furniture tool shop saw",
        refs="woodworking|the workshop|building furniture|the wood shop",
        acts="built a bookshelf from reclaimed wood|finished a coffee table in the garage"
        "|carved a set of wooden spoons|sharpened every chisel in the shop|built a birdhouse with the kids"
        "|restored an old rocking chair",
        things="bookshelf|coffee table|chisels|table saw|sandpaper|workbench|rocking chair",
        places="in the garage|in the workshop|at the lumber yard|at the makers space",
        details="sawdust got into everything in the house|the joints fit on the first try"
        "|the table wobbles just a little|the reclaimed wood had old nails hidden inside"
        "|the finish took five coats|the rocking chair squeaks in a friendly way",
        feelings="woodworking teaches you to measure twice|the smell of fresh cedar is the best"
        "|building something useful is deeply satisfying",
        plans="build a dining table|buy a better table saw|make toys for the grandkids"
        "|take a joinery class",
        habits="work in the shop on Saturday mornings|keep a stack of scrap wood|sharpen tools every month"
        "|sketch plans on graph paper",
        questions="What has {who} built in the workshop?|What woodworking project did {who} mention?"
        "|How is {who}'s furniture project going?",
        brief="builds furniture in a garage workshop|restores old chairs found at flea markets",
    ),
    _theme(
        "camping", "hobby", True, "camp tent campfire cabin canoe outdoor",
        refs="camping|the camping trip|the campsite|sleeping outdoors",
        acts="camped two nights by the lake|set up a tent in the pouring rain|cooked dinner over a campfire"
        "|paddled a canoe across the lake|saw the Milky Way from the campsite|forgot the tent poles at home",
        things="tent|campfire|canoe|sleeping bag|camp stove|marshmallows",
        places="by the lake|at the state campground|in the national forest|at a riverside campsite",
        details="a raccoon unzipped the cooler|the stars were unbelievable"
        "|it rained all night and the tent held up|the marshmallows caught fire every time"
        "|an owl hooted until two in the morning|we forgot the coffee and almost went home",
        feelings="sleeping outdoors resets my brain|campfire food always tastes better"
        "|a weekend without a phone is a gift",
        plans="try winter camping|buy a lighter tent|camp at the coast next summer"
        "|teach the kids to build a fire",
        habits="camp once a month in summer|keep the camping bin packed|check campsite reservations early"
        "|bring too many snacks",
        questions="Where did {who} go camping?|What happened on {who}'s camping trip?"
        "|How does {who} like sleeping outdoors?",
        brief="camps by lakes whenever the weather allows|keeps a camping bin always packed",
    ),
    _theme(
        "cooking_experiment", "hobby", True, "cook recipe spice curry cuisine dish kitchen ferment",
        refs="cooking new recipes|the cooking experiments|new dishes|home cooking",
        acts="cooked a spicy curry from scratch|made fresh pasta for the first time|tried a recipe from a new cookbook"
        "|fermented a batch of kimchi|made dumplings with a friend|grilled fish on a cedar plank",
        things="curry|fresh pasta|cookbook|kimchi|dumplings|spice drawer|cast iron pan",
        places="in the kitchen|at a cooking class|at a friend's house",
        details="the curry was hot enough to make me cry|the pasta dough took forever to roll"
        "|the kimchi jar exploded a little in the fridge|half the dumplings fell apart"
        "|the smoke alarm became my sous chef|the spice market had things I could not pronounce",
        feelings="cooking is the best kind of experiment|a recipe is just a suggestion"
        "|feeding people is my love language",
        plans="cook one new cuisine a month|take a knife skills class|make a cookbook of family recipes"
        "|grow my own chilies",
        habits="try a new recipe every week|keep a notebook of dishes|cook dinner from scratch most nights"
        "|buy spices from the international market",
        questions="What new dish did {who} cook?|What has {who} been cooking lately?"
        "|How did {who}'s recipe experiment go?",
        brief="experiments with spicy recipes from around the world|cooks everything from scratch",
    ),
    _theme(
        "travel_trip", "hobby", True, "travel trip road vacation tour visit museum city flight",
        refs="the trip|travel|the weekend getaway|the road trip",
        acts="took a road trip to the coast|spent a day exploring a historic small town"
        "|flew to visit a museum in the big city|toured a national park|booked a cabin in the woods"
        "|drove a scenic byway through the hills",
        things="road trip|cabin|museum|scenic byway|itinerary|souvenirs|national park",
        places="on the coast|in a historic small town|in the big city|in the national park",
        details="the car broke down in a town with one gas station|the museum was bigger than expected"
        "|we ate at a diner with pie in a glass case|the itinerary fell apart on day one"
        "|the cabin had no cell service at all|the souvenir shop sold only magnets",
        feelings="travel is the best way to spend money|getting lost is half the fun"
        "|a short trip can feel like a long vacation",
        plans="visit every national park in the region|plan a trip to Europe|take the train across the country"
        "|keep a travel journal",
        habits="plan trips in a spreadsheet|collect a magnet from every town|take a trip every season"
        "|pack the night before",
        questions="Where did {who} travel recently?|What happened on {who}'s trip?"
        "|What did {who} say about the getaway?",
        brief="takes road trips to national parks|plans every trip in a detailed spreadsheet",
    ),
    # ---------------------------------------------------------------- mundane
    _theme(
        "groceries", "mundane", False, "grocery store shop food market",
        refs="grocery shopping|the grocery run|the supermarket|groceries",
        acts="did a huge grocery run at the warehouse store|forgot the list and bought all the wrong things"
        "|switched to a cheaper supermarket|tried grocery delivery for the first time"
        "|waited in the longest checkout line ever|stocked up on pantry staples",
        things="shopping list|shopping cart|checkout line|pantry staples|coupons|produce section",
        places="at the warehouse store|at the supermarket|at the corner market",
        details="the cart had one wheel that spun in circles|eggs cost way more than last month"
        "|the delivery brought fifteen lemons instead of five|I ran into my old teacher in the cereal aisle"
        "|the self-checkout yelled at me twice|the produce section smelled like fresh basil",
        feelings="grocery prices are getting ridiculous|a full pantry feels like security"
        "|shopping without a list is a trap",
        plans="try a meal plan to cut costs|shop at the farmers market more|use the coupons for once"
        "|go shopping earlier in the morning",
        habits="shop on Tuesday mornings|keep a running list on the fridge|buy in bulk"
        "|check prices on my phone",
        questions="How did {who}'s grocery run go?|Where does {who} buy groceries?"
        "|What did {who} say about grocery shopping?",
        brief="turns grocery shopping into a budgeting game|keeps a meticulous shopping list",
    ),
    _theme(
        "laundry", "mundane", False, "laundry wash cloth iron fold",
        refs="laundry|the washing machine|folding clothes|the laundromat",
        acts="did five loads of laundry in one day|went to the laundromat when the washer broke"
        "|finally folded the mountain of clothes|shrank a favorite sweater|ironed every shirt for the week"
        "|bought a new drying rack",
        things="washing machine|laundromat|drying rack|sweater|iron|laundry basket",
        places="at the laundromat|in the basement|at home",
        details="a red sock turned everything pink|the laundromat had a cat that slept on the dryers"
        "|the folding took longer than the washing|one sock always disappears"
        "|the machine danced across the floor|the sweater now fits a toddler",
        feelings="laundry is the chore that never ends|clean sheets are the best feeling"
        "|folding is oddly relaxing with a podcast",
        plans="buy a new washing machine|do laundry every day instead of once a week|sort by color properly"
        "|donate clothes I never wear",
        habits="do laundry on Sunday nights|fold clothes while watching TV|hang shirts to dry"
        "|keep a lost sock basket",
        questions="What happened with {who}'s laundry?|How does {who} handle laundry?"
        "|What did {who} say about the washing machine?",
        brief="has strong opinions about folding laundry|keeps a basket of lost socks",
    ),
    _theme(
        "car_repair", "mundane", False, "car engine mechanic repair oil tire truck garage",
        refs="car trouble|the car|the mechanic|car repairs",
        acts="took the car to the mechanic for a strange noise|changed the oil in the driveway"
        "|replaced a flat tire on the highway|jumped a dead battery in the parking lot"
        "|paid way too much for new brakes|finally fixed the check engine light",
        things="mechanic|check engine light|battery|brakes|oil change|spare tire",
        places="at the mechanic|in the driveway|on the highway shoulder|at the auto parts store",
        details="the noise disappeared the moment the mechanic listened|the repair bill made me dizzy"
        "|a stranger stopped to help with the jack|the spare tire was also flat"
        "|the old car has two hundred thousand miles|the waiting room coffee was terrible",
        feelings="car trouble always happens at the worst time|a reliable car is worth a lot"
        "|I trust my mechanic more than my doctor",
        plans="learn basic car repair|save for a newer car|get the tires rotated on time"
        "|keep a roadside kit in the trunk",
        habits="change the oil every three months|check the tire pressure monthly|keep jumper cables in the trunk"
        "|listen for weird noises",
        questions="What happened with {who}'s car?|What did {who} say about the mechanic?"
        "|How did {who} deal with the car trouble?",
        brief="keeps an old truck running with patience|does car repairs in the driveway",
    ),
    _theme(
        "house_cleaning", "mundane", False, "clean tidy house vacuum dust organiz closet",
        refs="cleaning the house|the deep clean|housework|tidying up",
        acts="deep cleaned the whole kitchen|scrubbed the bathroom grout for an hour"
        "|vacuumed behind the couch for the first time in a year|washed every window in the house"
        "|cleaned out the fridge|shampooed the carpets",
        things="vacuum|grout|windows|fridge|carpet|cleaning supplies|mop",
        places="at home|in the kitchen|in the bathroom|in the living room",
        details="I found three remotes behind the couch|the fridge had something growing in the back"
        "|the windows sparkled for about a day|the vacuum clogged on a sock"
        "|the grout turned white again|the carpet was two shades lighter afterward",
        feelings="a clean house makes my brain feel clean|cleaning with loud music is the only way"
        "|I hate starting but love finishing",
        plans="clean one room a day|hire a cleaner once a month|declutter before spring"
        "|buy a robot vacuum",
        habits="clean the kitchen every night|vacuum on Saturdays|wipe the counters before bed"
        "|play music while cleaning",
        questions="What did {who} clean at home?|How does {who} keep the house tidy?"
        "|What did {who} say about the deep clean?",
        brief="deep cleans the house every Saturday|cannot sleep with a messy kitchen",
    ),
    _theme(
        "bills", "mundane", False, "bill tax budget money bank insurance paperwork",
        refs="the bills|paperwork|the budget|taxes",
        acts="spent an evening sorting through bills|finally filed the taxes|called the insurance company"
        "|set up automatic payments|fought a wrong charge on the phone bill|made a monthly budget spreadsheet",
        things="phone bill|tax forms|insurance claim|budget spreadsheet|bank statement|receipts",
        places="at the kitchen table|on the phone|at the bank",
        details="the hold music played for forty minutes|the refund was bigger than expected"
        "|I found a charge for a gym I never joined|the tax forms used words nobody understands"
        "|the spreadsheet finally balanced|a receipt from three years ago turned up",
        feelings="paperwork drains my soul|a balanced budget is weirdly satisfying"
        "|automatic payments are the best invention",
        plans="get the taxes done early next year|build an emergency fund|cancel the unused subscriptions"
        "|meet with a financial advisor",
        habits="check the bank account every Sunday|keep receipts in a folder|pay bills the day they arrive"
        "|review subscriptions every month",
        questions="What did {who} sort out with the bills?|How does {who} manage the budget?"
        "|What did {who} say about taxes?",
        brief="keeps a tidy budget spreadsheet|handles paperwork nobody else wants to touch",
    ),
    _theme(
        "dentist", "mundane", False, "dentist doctor appointment checkup health clinic",
        refs="the dentist|the checkup|the doctor's appointment|medical appointments",
        acts="finally went to the dentist after two years|got a filling replaced|had an annual checkup"
        "|waited an hour at the clinic|got new glasses after an eye exam|got a flu shot",
        things="filling|checkup|waiting room|new glasses|flu shot|x-rays",
        places="at the dentist|at the clinic|at the eye doctor|at the pharmacy",
        details="the waiting room magazines were from 2015|the hygienist lectured me about flossing"
        "|my face stayed numb until dinner|the new glasses make everything look sharp"
        "|the flu shot barely hurt|the x-rays showed nothing scary",
        feelings="I hate appointments but feel better afterward|flossing is the lie we all tell"
        "|health stuff is easier when you do not put it off",
        plans="book the next checkup right away|floss every single day|find a closer dentist"
        "|get the eye exam every year",
        habits="floss at night|book appointments in January|keep a list of medications"
        "|take the first appointment of the day",
        questions="How was {who}'s dentist appointment?|What did {who} say about the checkup?"
        "|What happened at the clinic for {who}?",
        brief="books every checkup right on schedule|finally made peace with the dentist",
    ),
    _theme(
        "plumbing", "mundane", False, "plumb pipe leak sink faucet toilet repair fix handy",
        refs="the plumbing|the leak|home repairs|the broken sink",
        acts="fixed a leaky kitchen faucet|unclogged the bathroom sink|replaced the toilet flapper"
        "|called a plumber for a burst pipe|caulked around the bathtub|patched a hole in the drywall",
        things="kitchen faucet|pipe|wrench|toilet|drain|caulk|water heater",
        places="under the sink|in the bathroom|in the basement|at the hardware store",
        details="water sprayed everywhere for ten seconds|the hardware store guy explained everything twice"
        "|I found a toy car in the drain|the plumber charged extra for the weekend"
        "|the faucet finally stopped dripping|the basement smelled like a swamp",
        feelings="fixing something yourself feels great|old houses always have one more problem"
        "|a good wrench is worth the money",
        plans="replace the old water heater|learn basic plumbing|fix the squeaky door next"
        "|keep a list of trusted repair people",
        habits="check under the sinks for leaks|keep a toolbox in the hall closet|watch repair videos before starting"
        "|turn off the water first",
        questions="What did {who} fix around the house?|What happened with {who}'s plumbing?"
        "|How did {who} handle the leak?",
        brief="fixes leaky faucets and creaky doors around the house|keeps a well-stocked toolbox",
    ),
    _theme(
        "errands", "mundane", False, "errand post office package return pharmacy store",
        refs="errands|returning packages|the post office|running around town",
        acts="returned three packages at the post office|picked up a prescription at the pharmacy"
        "|renewed the driver's license|dropped off donations|exchanged shoes that did not fit"
        "|ran six errands in a single loop around town",
        things="packages|prescription|driver's license|donations|receipt|shipping label",
        places="at the post office|at the pharmacy|at the DMV|at the mall",
        details="the line at the post office wrapped around the building|the DMV photo looks like a mugshot"
        "|the pharmacy lost the prescription twice|I forgot the receipt in the car"
        "|the shoes were the wrong size again|the parking lot was a nightmare",
        feelings="errands always take three times longer than planned|crossing things off a list feels amazing"
        "|the DMV tests everyone's patience",
        plans="batch errands into one day|order less online|renew things before they expire"
        "|get the passport sorted",
        habits="run errands on Saturday mornings|keep a list in my phone|combine trips to save gas"
        "|print labels the night before",
        questions="What errands did {who} run?|What happened at the post office for {who}?"
        "|How did {who}'s errands go?",
        brief="runs every errand in one efficient loop|keeps a running errand list",
    ),
    _theme(
        "haircut", "mundane", False, "hair salon barber cut style",
        refs="the haircut|the salon|a new hairstyle|the barber",
        acts="got a completely new haircut|tried a new barber downtown|dyed the hair a bright color"
        "|cut the bangs at home and regretted it|waited two hours at the salon|donated ten inches of hair",
        things="haircut|barber|bangs|hair dye|salon chair|clippers",
        places="at the salon|at the barber shop|at home in the bathroom",
        details="the barber talked about fishing the whole time|the color turned out more orange than red"
        "|the bangs are growing out slowly|nobody at work noticed for two days"
        "|the stylist said my hair was healthy|the clippers died halfway through",
        feelings="a good haircut is a mood boost|finding a good barber is like finding treasure"
        "|never cut bangs at midnight",
        plans="grow the hair out|try the same stylist again|stop cutting my own hair"
        "|book the next cut before leaving",
        habits="get a haircut every six weeks|tip the barber well|keep photos of cuts I like"
        "|trim the ends myself",
        questions="What did {who} do with the new haircut?|How was the salon visit for {who}?"
        "|What did {who} say about the barber?",
        brief="has a loyal relationship with a neighborhood barber|tries a bold new hairstyle every year",
    ),
    _theme(
        "decluttering", "mundane", False, "declutter garage closet donate organiz attic yard sale",
        refs="decluttering|the garage cleanout|the yard sale|spring cleaning",
        acts="cleaned out the whole garage|held a yard sale on Saturday|donated four bags of clothes"
        "|sorted old photos into boxes|emptied the junk drawer|finally organized the closet",
        things="garage|yard sale|junk drawer|donation bags|closet|storage bins",
        places="in the garage|in the attic|on the front lawn|at the donation center",
        details="I found a box of my old report cards|the yard sale made forty-two dollars"
        "|someone haggled over a quarter|the junk drawer had eleven rubber bands and a key to nothing"
        "|the closet now has actual empty space|a neighbor bought the old exercise bike",
        feelings="getting rid of stuff feels lighter than I expected|every object has a story"
        "|less stuff means less to clean",
        plans="declutter one room a month|sell the old furniture online|build shelves in the garage"
        "|keep the closet this tidy",
        habits="donate a bag of clothes every season|keep the junk drawer under control|label every storage bin"
        "|have a yard sale every spring",
        questions="What did {who} clear out?|How did {who}'s yard sale go?"
        "|What did {who} find while decluttering?",
        brief="holds a yard sale every spring|labels every storage bin in the house",
    ),
)

THEMES_BY_KEY: dict[str, Theme] = {t.key: t for t in THEMES}

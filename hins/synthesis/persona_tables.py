"""Built-in attribute tables for offline personas (stage 1).

Plain data, no logic beyond splitting the compact strings. The tables are large enough that 4,000
conversations rarely repeat a full name, and every personality attribute has dozens of texts.
Trait texts deliberately contain words that the theme bank's keywords match (garden, trail, bake, ...),
so the procedural synthesizer can reflect a person's traits in the events it picks.
"""

from __future__ import annotations


def _words(s: str) -> tuple[str, ...]:
    return tuple(s.split())


def _lines(s: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in s.strip().splitlines() if line.strip())


# The paper's A_all: the personality attributes of Nemotron-Personas (the paper's persona construction).
A_ALL: tuple[str, ...] = (
    "professional",
    "sports",
    "arts",
    "travel",
    "culinary",
    "skills",
    "hobbies",
    "career_goals",
)

FEMALE_NAMES = _words(
    """
    Abigail Ada Adaeze Adriana Aisha Alana Alejandra Alice Alicia Alina Allison Alma Amara Amelia Amina
    Amy Ana Andrea Angela Angelica Anita Ann Anna Annette Aria Ariana Ashley Aubrey Audrey Ava Beatriz
    Bella Bernadette Beth Bianca Brenda Brianna Bridget Brooke Camila Carla Carmen Carol Caroline
    Catalina Catherine Cecilia Celeste Charlotte Chiara Chloe Christina Claire Clara Colleen Cora
    Courtney Dalia Daniela Danielle Daphne Deborah Delia Denise Diana Dolores Donna Dorothy Eleanor
    Elena Eliza Ella Ellen Eloise Emily Emma Erica Erin Esme Esther Eva Evelyn Faith Fatima Fiona
    Florence Frances Gabriela Gemma Georgia Gianna Gloria Grace Greta Hadley Hailey Hana Hannah Harper
    Hazel Heather Helen Holly Hope Imani Ines Ingrid Irene Iris Isabel Isla Ivy Jacqueline Jade Jane
    Janet Jasmine Jean Jenna Jennifer Jessica Jillian Joan Joanna Josephine Joy Joyce Judith Julia
    Juliana June Kaitlyn Kamala Karen Kate Katherine Kayla Keiko Kendra Kiara Kimberly Kira Laila Lara
    Laura Lauren Layla Leah Leila Lena Leticia Lila Lillian Linda Lisa Liv Lorena Lorraine Louisa Lucia
    Lucy Luna Lydia Mabel Madeline Maggie Maria Mariana Marisol Marjorie Marta Martha Maya Megan Melanie
    Melissa Mia Michelle Mila Miranda Molly Monica Nadia Naomi Natalie Nell Nicole Nina Nora Olivia
    Paige Pamela Patricia Paula Pearl Penelope Phoebe Priya Quinn Rachel Ramona Rebecca Renee Rosa
    Rosalind Rose Ruby Ruth Sabrina Samantha Sandra Sara Savannah Selena Serena Shannon Sienna Simone
    Sofia Sophie Stella Susan Sylvia Tamara Tanya Tessa Theresa Valentina Valerie Vanessa Vera Veronica
    Victoria Violet Vivian Wendy Willa Yasmin Yolanda Zara Zoe
    """
)

MALE_NAMES = _words(
    """
    Aaron Abdul Adam Adrian Ahmed Alan Albert Alejandro Alex Alfred Ali Andre Andrew Angelo Anthony
    Antonio Arjun Arthur Asher Austin Axel Barry Beau Ben Benjamin Bernard Blake Bradley Brandon Brian
    Bruce Bruno Caleb Calvin Cameron Carl Carlos Carter Casey Cedric Charles Chester Christian Clarence
    Clark Clifford Cole Colin Connor Cristian Curtis Dale Damian Daniel Dante Darius Darnell David Dean
    Declan Dennis Derek Desmond Diego Dominic Donald Douglas Duncan Dustin Dylan Eduardo Edward Eli
    Elijah Elliot Emilio Emmett Enrique Eric Ernest Ethan Eugene Evan Felix Fernando Finn Francis Frank
    Gabriel Gareth George Gerald Gilbert Glenn Gordon Graham Grant Gregory Gus Harold Harrison Harvey
    Hassan Hector Henry Howard Hugo Ian Ibrahim Isaac Ivan Jack Jacob Jake Jamal James Jared Jason
    Javier Jay Jeffrey Jeremy Jerome Jesse Joel John Jonah Jonathan Jordan Jorge Jose Joseph Joshua
    Juan Julian Justin Kai Karl Keith Kenji Kenneth Kevin Kofi Kurt Kyle Lamar Lance Larry Lawrence Leo
    Leon Leonard Liam Lincoln Logan Louis Luca Lucas Luis Luke Malcolm Manuel Marco Marcus Mario Mark
    Martin Mason Mateo Matthew Maurice Max Miguel Miles Mohammed Nathan Neil Nelson Nicholas Nikhil Noah
    Nolan Oliver Omar Oscar Owen Pablo Patrick Paul Pedro Percy Peter Philip Preston Rafael Rahul Ralph
    Ramon Randall Raymond Reggie Rhys Ricardo Richard Robert Roberto Rodney Roger Roland Roman Ronald
    Ross Ruben Russell Ryan Samuel Santiago Scott Sean Sebastian Sergio Seth Shane Simon Stanley Stephen
    Steven Terrence Theo Thomas Timothy Tobias Todd Tomas Travis Trevor Tristan Troy Tyler Victor Vincent
    Wade Walter Warren Wayne Wesley William Wyatt Xavier Yusuf Zachary
    """
)

LAST_NAMES = _words(
    """
    Abbott Acosta Adams Adler Aguilar Alberti Alexander Ali Allen Alvarez Anderson Andrews Armstrong
    Arnold Ashford Bailey Baker Banks Barnes Barrett Bates Becker Bell Bennett Benson Berg Bishop Black
    Blackwell Bradley Brennan Brooks Brown Bryant Burke Burns Butler Byrne Caldwell Campbell Cannon
    Carlson Carpenter Carter Castillo Castro Chambers Chandler Chang Chapman Chen Choi Clarke Cobb Cole
    Coleman Collins Contreras Cooper Cortez Costa Crawford Cruz Cunningham Daly Daniels Davidson Davis
    Dawson Delgado Diaz Dixon Dominguez Douglas Doyle Duarte Duncan Dunn Edwards Ellis Erikson Espinoza
    Evans Farrell Ferguson Fernandez Fischer Fitzgerald Fleming Fletcher Flores Ford Foster Fowler Fox
    Francis Franklin Freeman Fuller Gallagher Garcia Gardner Garrett Gibson Gill Gomez Gonzalez Goodwin
    Gordon Graham Grant Gray Green Gregory Griffin Gupta Gutierrez Hall Hamilton Hansen Harper Harris
    Hart Hawkins Hayes Henderson Hernandez Herrera Hill Hoffman Holland Holmes Hopkins Howard Hughes
    Hunt Hunter Ibarra Ingram Ito Jackson Jacobs James Jenkins Jensen Jimenez Johnson Jones Jordan
    Joseph Kaur Keller Kelly Kennedy Khan Kim King Klein Knight Kowalski Kramer Lambert Lane Larsen Lawson
    Lee Lewis Lindqvist Little Lopez Lowe Lucas Lynch Maddox Malik Mann Marsh Martin Martinez Mason
    Matthews Maxwell McCarthy McDonald McKenzie Medina Mehta Mendez Meyer Miller Mills Mitchell Molina
    Montgomery Moore Morales Moreno Morgan Morris Murphy Murray Myers Nakamura Nash Navarro Nelson Nguyen
    Nichols Nolan Novak Nunez Obi Oconnell Okafor Oliver Olsen Ortega Ortiz Osei Owens Palmer Park Parker
    Patel Patterson Payne Pearson Perez Perry Peters Peterson Phillips Pierce Porter Powell Price
    Quinn Ramirez Ramos Reed Reid Reyes Reynolds Rhodes Rice Richards Rivera Roberts Robinson Rodriguez
    Rogers Romero Rose Ross Russo Ryan Salazar Sanchez Sanders Santos Sato Schmidt Schneider Scott Shah
    Shaw Silva Simmons Sims Singh Soto Spencer Stanley Stewart Stone Sullivan Suzuki Takahashi Tanaka
    Taylor Thomas Thompson Torres Tran Tucker Turner Vargas Vasquez Vaughn Walker Wallace Walsh Ward
    Warren Watson Weaver Webb Weber Wells West Wheeler White Williams Willis Wilson Wong Woods Wright
    Wu Yamamoto Yang Young Zhang Zimmerman
    """
)

# (city, state or province, country)
CITIES: tuple[tuple[str, str, str], ...] = tuple(
    tuple(part.strip() for part in line.split(","))  # type: ignore[misc]
    for line in _lines(
        """
        Tucson, Arizona, USA
        Phoenix, Arizona, USA
        Flagstaff, Arizona, USA
        Atlanta, Georgia, USA
        Savannah, Georgia, USA
        Austin, Texas, USA
        El Paso, Texas, USA
        San Antonio, Texas, USA
        Houston, Texas, USA
        Dallas, Texas, USA
        Denver, Colorado, USA
        Boulder, Colorado, USA
        Fort Collins, Colorado, USA
        Portland, Oregon, USA
        Eugene, Oregon, USA
        Seattle, Washington, USA
        Spokane, Washington, USA
        Tacoma, Washington, USA
        Boise, Idaho, USA
        Salt Lake City, Utah, USA
        Albuquerque, New Mexico, USA
        Santa Fe, New Mexico, USA
        Las Vegas, Nevada, USA
        Reno, Nevada, USA
        Sacramento, California, USA
        San Diego, California, USA
        Oakland, California, USA
        Fresno, California, USA
        Pasadena, California, USA
        Santa Cruz, California, USA
        Anchorage, Alaska, USA
        Honolulu, Hawaii, USA
        Omaha, Nebraska, USA
        Lincoln, Nebraska, USA
        Wichita, Kansas, USA
        Tulsa, Oklahoma, USA
        Des Moines, Iowa, USA
        Minneapolis, Minnesota, USA
        Duluth, Minnesota, USA
        Madison, Wisconsin, USA
        Milwaukee, Wisconsin, USA
        Chicago, Illinois, USA
        Springfield, Illinois, USA
        Indianapolis, Indiana, USA
        Detroit, Michigan, USA
        Grand Rapids, Michigan, USA
        Ann Arbor, Michigan, USA
        Columbus, Ohio, USA
        Cleveland, Ohio, USA
        Cincinnati, Ohio, USA
        Pittsburgh, Pennsylvania, USA
        Philadelphia, Pennsylvania, USA
        Buffalo, New York, USA
        Rochester, New York, USA
        Albany, New York, USA
        Brooklyn, New York, USA
        Burlington, Vermont, USA
        Portland, Maine, USA
        Providence, Rhode Island, USA
        Hartford, Connecticut, USA
        Boston, Massachusetts, USA
        Worcester, Massachusetts, USA
        Baltimore, Maryland, USA
        Richmond, Virginia, USA
        Norfolk, Virginia, USA
        Raleigh, North Carolina, USA
        Asheville, North Carolina, USA
        Charleston, South Carolina, USA
        Nashville, Tennessee, USA
        Memphis, Tennessee, USA
        Knoxville, Tennessee, USA
        Louisville, Kentucky, USA
        Birmingham, Alabama, USA
        Jackson, Mississippi, USA
        New Orleans, Louisiana, USA
        Baton Rouge, Louisiana, USA
        Little Rock, Arkansas, USA
        Kansas City, Missouri, USA
        St. Louis, Missouri, USA
        Miami, Florida, USA
        Tampa, Florida, USA
        Orlando, Florida, USA
        Tallahassee, Florida, USA
        Billings, Montana, USA
        Missoula, Montana, USA
        Fargo, North Dakota, USA
        Sioux Falls, South Dakota, USA
        Cheyenne, Wyoming, USA
        Toronto, Ontario, Canada
        Ottawa, Ontario, Canada
        Vancouver, British Columbia, Canada
        Calgary, Alberta, Canada
        Halifax, Nova Scotia, Canada
        Montreal, Quebec, Canada
        Manchester, England, UK
        Leeds, England, UK
        Bristol, England, UK
        Edinburgh, Scotland, UK
        Glasgow, Scotland, UK
        Cardiff, Wales, UK
        Dublin, Leinster, Ireland
        Cork, Munster, Ireland
        Melbourne, Victoria, Australia
        Brisbane, Queensland, Australia
        Perth, Western Australia, Australia
        Auckland, Auckland, New Zealand
        Wellington, Wellington, New Zealand
        """
    )
)

MARITAL_STATUSES = ("never married", "married", "divorced", "separated", "widowed")

EDUCATION_LEVELS = (
    "high school diploma",
    "some college",
    "associate's degree",
    "bachelor's degree",
    "master's degree",
    "doctorate",
    "professional degree",
)
# Levels without a field of study; the others draw one from EDUCATION_FIELDS.
NO_FIELD_LEVELS = ("high school diploma",)

# Field of study -> (occupation, workplace) pairs. Keys also cover the coarse Nemotron `bachelors_field`
# values, so a Nemotron persona gets a plausible job in its brief.
FIELD_OCCUPATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "nursing": (("nurse", "hospital"), ("pediatric nurse", "children's hospital"), ("ER nurse", "ER")),
    "medicine": (("family doctor", "clinic"), ("physician assistant", "clinic"), ("pharmacist", "pharmacy")),
    "mechanical engineering": (("mechanical engineer", "plant"), ("aerospace engineer", "hangar")),
    "civil engineering": (("civil engineer", "site office"), ("bridge inspector", "county office")),
    "computer science": (("software developer", "office"), ("data analyst", "office"), ("IT technician", "help desk")),
    "education": (("elementary school teacher", "school"), ("high school math teacher", "school"),
                  ("school librarian", "library")),
    "business administration": (("office manager", "office"), ("small business owner", "shop"),
                                ("sales manager", "office")),
    "accounting": (("accountant", "firm"), ("bookkeeper", "office"), ("tax preparer", "office")),
    "biology": (("lab technician", "lab"), ("park ranger", "ranger station"), ("veterinary technician", "vet clinic")),
    "chemistry": (("chemist", "lab"), ("water quality analyst", "treatment plant")),
    "psychology": (("school counselor", "school"), ("therapist", "practice"), ("HR specialist", "office")),
    "history": (("museum curator", "museum"), ("history teacher", "school"), ("archivist", "archive")),
    "fine arts": (("graphic designer", "studio"), ("art teacher", "school"), ("illustrator", "studio")),
    "journalism": (("reporter", "newsroom"), ("copy editor", "newsroom"), ("radio producer", "station")),
    "architecture": (("architect", "firm"), ("interior designer", "studio")),
    "agriculture": (("farm manager", "farm"), ("agronomist", "field station"), ("nursery owner", "nursery")),
    "economics": (("financial analyst", "bank"), ("loan officer", "credit union")),
    "music": (("music teacher", "school"), ("sound engineer", "studio"), ("piano tuner", "workshop")),
    "social work": (("social worker", "county office"), ("case manager", "shelter")),
    "law": (("paralegal", "law office"), ("public defender", "courthouse"), ("attorney", "law firm")),
    "marketing": (("marketing coordinator", "agency"), ("brand manager", "office")),
    "environmental science": (("environmental consultant", "field office"), ("recycling coordinator", "city office")),
    "physics": (("physics teacher", "school"), ("lab engineer", "lab")),
    "political science": (("city planner", "city hall"), ("legislative aide", "capitol")),
    "culinary arts": (("pastry chef", "bakery"), ("line cook", "restaurant"), ("caterer", "kitchen")),
    "criminal justice": (("police dispatcher", "station"), ("probation officer", "county office")),
    "english literature": (("editor", "publishing house"), ("English teacher", "school"), ("librarian", "library")),
    # coarse Nemotron-Personas values
    "stem": (("software developer", "office"), ("lab technician", "lab"), ("engineer", "plant")),
    "stem related": (("dental hygienist", "dental office"), ("radiology technician", "hospital")),
    "business": (("office manager", "office"), ("accountant", "firm"), ("sales manager", "office")),
    "arts humanities": (("editor", "publishing house"), ("graphic designer", "studio"), ("teacher", "school")),
    "arts": (("graphic designer", "studio"), ("photographer", "studio")),
    "humanities": (("editor", "publishing house"), ("teacher", "school")),
    "social sciences": (("social worker", "county office"), ("HR specialist", "office")),
}
EDUCATION_FIELDS: tuple[str, ...] = tuple(k for k in FIELD_OCCUPATIONS if k not in (
    "stem", "stem related", "business", "arts humanities", "arts", "humanities", "social sciences"))

# Jobs without a degree requirement: for people with no field of study, or a field the table does not know.
TRADE_OCCUPATIONS: tuple[tuple[str, str], ...] = (
    ("electrician", "job site"), ("bus driver", "depot"), ("barista", "café"),
    ("warehouse supervisor", "warehouse"), ("hair stylist", "salon"), ("auto mechanic", "garage"),
    ("grocery clerk", "store"), ("plumber", "job site"), ("line cook", "diner"),
    ("home health aide", "client's house"), ("truck driver", "distribution center"), ("carpenter", "shop"),
    ("receptionist", "front desk"), ("security guard", "mall"), ("retail manager", "store"),
    ("landscaper", "nursery"), ("delivery driver", "depot"), ("bank teller", "branch"),
    ("mail carrier", "post office"), ("welder", "fabrication shop"), ("daycare worker", "daycare"),
    ("dental assistant", "dental office"), ("dog groomer", "grooming salon"), ("bartender", "bar"),
)

# Personality attribute texts, phrased as predicates ("<name> ...") so they read in any source format.
TRAITS: dict[str, tuple[str, ...]] = {
    "professional": _lines(
        """
        takes pride in being the calm one during a busy shift
        keeps meticulous notes and color-coded checklists at work
        mentors younger coworkers and remembers everyone's birthday
        is known at work for fixing problems nobody else wants to touch
        prefers hands-on work to meetings and long email threads
        works early mornings and likes having the office to themselves
        switched careers in their thirties and never looked back
        runs a small side business selling handmade goods online
        is a union rep who reads every contract line by line
        trains new hires and writes the team's how-to guides
        juggles two part-time jobs while saving for a house
        is the person colleagues call when the computer system crashes
        believes a tidy workspace means a tidy mind
        loves the problem-solving side of the job more than the paycheck
        volunteers for every training course the company offers
        manages a small team and hates micromanaging
        works night shifts and sleeps with blackout curtains
        is a stickler for safety rules on the job site
        handles the budget spreadsheets nobody else understands
        commutes by train and answers emails on the way
        works from home and keeps a strict morning routine
        spent a decade in the military before a civilian career
        runs the front desk and knows every regular customer by name
        is slowly building a freelance portfolio on weekends
        recently got promoted and is still adjusting to managing friends
        teaches evening classes at the community college
        keeps a jar of snacks on the desk for anyone who stops by
        is retraining after the old factory job disappeared
        enjoys presenting at conferences and sharing what works
        works seasonal jobs and travels between them
        """
    ),
    "sports": _lines(
        """
        runs a few miles every morning before sunrise
        plays pickup basketball at the rec center on Thursdays
        swims laps at the community pool three times a week
        follows the local baseball team and keeps a scorecard at games
        cycles long road routes on weekends with a club
        lifts weights at the gym and tracks every set in a notebook
        practices yoga to keep a bad back loose
        hikes mountain trails whenever the weather allows
        plays in a casual soccer league that mostly goes for pizza after
        fishes for trout at dawn on quiet mountain lakes
        trained for and finished a half marathon last spring
        coaches a youth softball team
        plays tennis doubles with the same three friends every Sunday
        goes rock climbing at the indoor gym after work
        kayaks on the river whenever the water is calm
        skis every winter and counts down to the first snow
        bowls in a Tuesday night league and owns a lucky ball
        walks the dog on long neighborhood loops every evening
        plays golf badly but happily on cheap weekday tee times
        never misses a college football game on TV
        does martial arts and just earned a new belt
        rows on an erg machine in the garage
        takes dance fitness classes with a neighbor
        plays pickleball at the park with retirees who are very competitive
        surfs on early mornings before work
        referees youth soccer games on weekends
        trains for charity bike rides every summer
        skates at the ice rink during public sessions
        plays volleyball on the beach on summer evenings
        goes cross-country skiing on snowy trails near home
        """
    ),
    "arts": _lines(
        """
        paints watercolor landscapes on quiet weekends
        sketches people at coffee shops in a pocket notebook
        plays acoustic guitar and writes folk songs
        sings in a community choir
        takes photographs of old buildings and street scenes
        throws pottery at a local studio on Wednesday nights
        reads historical fiction before bed every night
        goes to every gallery opening downtown
        loves live jazz and knows the small clubs in town
        acts in community theater productions
        knits scarves and sweaters for the whole family
        does woodworking and builds small furniture pieces
        plays piano and is relearning old classical pieces
        collects vinyl records from thrift stores
        writes short stories and poems in a journal
        makes quilts from old family fabric
        attends indie film festivals
        plays drums in a garage band with old friends
        does calligraphy for friends' wedding invitations
        loves musicals and can sing most of the soundtracks
        builds model trains with hand-painted scenery
        makes jewelry from beads and found objects
        listens to metal music and goes to loud concerts
        paints murals for local businesses
        does stand-up comedy at open mic nights
        crochets tiny animals for the kids in the family
        photographs birds and wildlife with a long lens
        plays violin in a community orchestra
        carves wooden spoons by the fireplace
        restores antique furniture found at flea markets
        """
    ),
    "travel": _lines(
        """
        takes road trips to national parks every summer
        dreams of backpacking through Southeast Asia
        prefers quiet cabins in the woods to busy resorts
        visits family back home in the old country every year
        plans trips around food markets and street vendors
        has visited every state capital in the region
        goes camping in the mountains with an old tent
        loves beach towns in the off-season
        travels by train whenever possible
        takes weekend trips to historic small towns
        keeps a scrapbook of ticket stubs from every trip
        saves up for one big international trip every few years
        drives to the coast to watch migrating birds
        prefers staycations and exploring the hometown like a tourist
        goes on church mission trips abroad
        tours baseball stadiums in different cities
        hikes sections of long-distance trails during vacations
        likes cruises and chatting with strangers at dinner
        travels to see live music festivals
        visits wineries and small farms on countryside drives
        plans every trip with a detailed spreadsheet
        loves getting lost in museums in big cities
        takes fishing trips to lakes up north
        goes on ski trips with college friends every winter
        road trips to visit grandkids scattered across the country
        enjoys camping at lakeside campgrounds with a canoe
        travels for work and collects hotel soap
        is planning a first trip to Europe
        explores ghost towns and old mining trails
        rides a motorcycle along scenic byways
        """
    ),
    "culinary": _lines(
        """
        bakes sourdough bread and names every starter
        cooks big Sunday dinners for the whole family
        grows herbs and vegetables for home cooking
        experiments with spicy recipes from around the world
        makes tamales with the family every holiday season
        is a vegetarian who loves farmers markets
        grills everything, even in the middle of winter
        meal-preps for the whole week every Sunday afternoon
        bakes pies for every potluck and church supper
        makes homemade pasta on rainy weekends
        loves trying new restaurants and food trucks
        cans tomatoes and pickles every late summer
        brews coffee carefully and grinds beans by hand
        makes soup from whatever is left in the fridge
        bakes birthday cakes for friends and coworkers
        cooks recipes passed down from a grandmother
        keeps a backyard smoker and makes brisket for neighbors
        follows a strict low-sugar diet and misses dessert
        loves cooking curries and keeps a huge spice drawer
        bakes cookies for the neighbors at the holidays
        hosts taco nights with friends on Fridays
        makes kimchi and other fermented foods at home
        is learning to cook after years of takeout
        makes smoothies every morning after a workout
        collects old cookbooks from yard sales
        barbecues ribs for every summer gathering
        cooks vegan meals and tries to convert friends
        loves brunch and makes a mean omelet
        bakes bread for the local food pantry
        makes jam from berries picked in summer
        """
    ),
    "skills": _lines(
        """
        can fix almost anything with duct tape and patience
        is handy with car engines and does oil changes at home
        knows how to sew and hem clothes for friends
        speaks three languages and translates for neighbors
        is great with spreadsheets and budgets
        can repair leaky faucets and running toilets
        organizes closets and garages with ruthless efficiency
        knows first aid and CPR from years of training
        is good at calming down upset kids and pets
        builds raised garden beds and simple furniture
        can cook for a crowd on short notice
        is a skilled negotiator at flea markets
        writes clear, friendly letters and emails for others
        knows the local bus routes by heart
        repairs bicycles for friends in the garage
        can identify dozens of birds by their songs
        is a patient teacher who explains things simply
        does taxes for half the family every spring
        is good at planning events down to the minute
        can paint a room without a single drip
        keeps houseplants alive that everyone else kills
        knows how to fix phones and laptops
        is great at remembering names and faces
        can back a trailer into any spot
        mends fences and does basic carpentry
        is a careful driver who never misses a maintenance check
        can bake bread without a recipe
        knows every trail in the county
        is a quick learner with any new gadget
        can untangle any knot, from fishing line to necklaces
        """
    ),
    "hobbies": _lines(
        """
        spends weekends gardening in the backyard
        plays chess online and at the library club
        does jigsaw puzzles with a thousand pieces
        goes birdwatching at the wetlands with binoculars
        reads mystery novels from the library every week
        builds birdhouses in the garage
        bakes elaborate cakes just for fun
        goes fishing at the lake on Saturday mornings
        plays board games with friends every Friday night
        knits while watching old movies
        keeps a journal and writes every night
        plays video games with old friends online
        does crossword puzzles in ink every morning
        collects stamps and old coins
        hikes local trails with a dog
        volunteers at the animal shelter on weekends
        paints miniatures for tabletop games
        grows tomatoes and peppers in raised beds
        takes pottery classes at the community center
        photographs sunsets from the same hill every week
        rides a bike around town on errands
        plays guitar on the porch in the evenings
        brews beer at home with a friend
        goes to trivia night at the local pub
        restores an old car in the driveway
        bakes bread and gives most of it away
        keeps a saltwater aquarium
        plays in a weekly poker game
        walks the dog for hours on the river path
        makes scrapbooks of family photos
        """
    ),
    "career_goals": _lines(
        """
        hopes to open a small bakery someday
        wants to become a head nurse within five years
        plans to go back to school for an engineering degree
        dreams of starting a landscaping business
        wants to publish a novel before turning fifty
        hopes to become a school principal
        is saving up to buy a food truck
        wants to earn a project management certification
        plans to retire early and travel
        hopes to teach at a university one day
        wants to become a licensed electrician
        dreams of running a bed and breakfast
        wants to move into a management role
        is working toward a master's degree at night
        hopes to open a small music school
        wants to start a nonprofit for local kids
        dreams of owning a small farm
        wants to become a certified personal trainer
        hopes to design houses as a licensed architect
        is aiming for a promotion to senior analyst
        wants to run for city council someday
        plans to become a full-time freelance photographer
        hopes to launch a small woodworking shop
        wants to become a chef at a well-known restaurant
        hopes to mentor other first-generation students
        wants to finish a nursing degree
        dreams of opening a bookstore with a café
        wants to become a park ranger
        plans to take over the family business
        hopes to become a licensed therapist
        """
    ),
}

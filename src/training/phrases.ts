// Word lists and small facts for the synthetic demo conversations. Kept short and plain: the demo model
// is tiny and should learn a few patterns well rather than many badly.

/** Short general-knowledge questions with one canonical answer each (question variants, answer, reasoning). */
export interface Fact {
  questions: string[];
  answer: string;
  reasoning: string;
}

const CAPITALS: [string, string][] = [
  ['France', 'Paris'],
  ['Germany', 'Berlin'],
  ['Italy', 'Rome'],
  ['Spain', 'Madrid'],
  ['Japan', 'Tokyo'],
  ['China', 'Beijing'],
  ['Egypt', 'Cairo'],
  ['Kenya', 'Nairobi'],
  ['Canada', 'Ottawa'],
  ['Mexico', 'Mexico City'],
  ['Brazil', 'Brasilia'],
  ['Argentina', 'Buenos Aires'],
  ['Australia', 'Canberra'],
  ['India', 'New Delhi'],
  ['Russia', 'Moscow'],
  ['the United Kingdom', 'London'],
  ['the United States', 'Washington, D.C.'],
  ['Portugal', 'Lisbon'],
  ['Greece', 'Athens'],
  ['Norway', 'Oslo'],
  ['Sweden', 'Stockholm'],
  ['Poland', 'Warsaw'],
  ['South Korea', 'Seoul'],
  ['Peru', 'Lima'],
];

const COUNTS: [string, string, string][] = [
  // [question, answer sentence, reasoning]
  ['How many days are in a week?', 'There are 7 days in a week.', 'A week has 7 days.'],
  ['How many months are in a year?', 'There are 12 months in a year.', 'A year has 12 months.'],
  ['How many hours are in a day?', 'There are 24 hours in a day.', 'A day has 24 hours.'],
  ['How many minutes are in an hour?', 'There are 60 minutes in an hour.', 'An hour has 60 minutes.'],
  ['How many seconds are in a minute?', 'There are 60 seconds in a minute.', 'A minute has 60 seconds.'],
  ['How many legs does a spider have?', 'A spider has 8 legs.', 'Spiders have 8 legs.'],
  ['How many legs does a dog have?', 'A dog has 4 legs.', 'Dogs have 4 legs.'],
  ['How many continents are there?', 'There are 7 continents.', 'The usual count is 7 continents.'],
  ['How many sides does a triangle have?', 'A triangle has 3 sides.', 'A triangle has 3 sides.'],
  ['How many sides does a hexagon have?', 'A hexagon has 6 sides.', 'A hexagon has 6 sides.'],
  ['How many letters are in the English alphabet?', 'The English alphabet has 26 letters.', 'The English alphabet has 26 letters.'],
  ['How many planets are in the solar system?', 'There are 8 planets in the solar system.', 'The solar system has 8 planets.'],
];

const SIMPLE: [string[], string, string][] = [
  [['What color is the sky on a clear day?', 'What colour is a clear sky?'], 'On a clear day the sky is blue.', 'A clear daytime sky looks blue.'],
  [['What is the opposite of hot?'], 'The opposite of hot is cold.', 'Hot and cold are opposites.'],
  [['What is the opposite of up?'], 'The opposite of up is down.', 'Up and down are opposites.'],
  [['What is the opposite of big?'], 'The opposite of big is small.', 'Big and small are opposites.'],
  [['At what temperature does water freeze?', 'When does water freeze?'], 'Water freezes at 0 degrees Celsius (32 degrees Fahrenheit).', 'At normal pressure water freezes at 0 C, which is 32 F.'],
  [['At what temperature does water boil?', 'When does water boil?'], 'Water boils at 100 degrees Celsius (212 degrees Fahrenheit) at sea level.', 'At sea level water boils at 100 C, which is 212 F.'],
  [['What is the largest planet?', 'Which planet is the biggest?'], 'Jupiter is the largest planet in the solar system.', 'The largest planet is Jupiter.'],
  [['What is the closest star to Earth?'], 'The closest star to Earth is the Sun.', 'The Sun is a star and it is the closest one.'],
  [['What do bees make?'], 'Bees make honey.', 'Bees make honey from nectar.'],
  [['What gas do plants take in?', 'What do plants breathe in?'], 'Plants take in carbon dioxide and give off oxygen.', 'Plants use carbon dioxide for photosynthesis.'],
  [['What is the chemical symbol for water?', 'What is the formula of water?'], 'The chemical formula for water is H2O.', 'Water is two hydrogen atoms and one oxygen atom.'],
  [['Which is the longest river?', 'What is the longest river in the world?'], 'The Nile is usually named as the longest river in the world.', 'The Nile is the usual answer, with the Amazon close.'],
  [['What is the tallest mountain?', 'Which mountain is the highest?'], 'Mount Everest is the tallest mountain above sea level.', 'Everest is the highest mountain above sea level.'],
  [['What is the freezing point of water in Fahrenheit?'], 'Water freezes at 32 degrees Fahrenheit.', 'Water freezes at 32 F.'],
  [['How many centimeters are in a meter?'], 'There are 100 centimeters in a meter.', 'A meter is 100 centimeters.'],
  [['How many grams are in a kilogram?'], 'There are 1000 grams in a kilogram.', 'A kilogram is 1000 grams.'],
];

function lowerFirst(s: string): string {
  return s[0].toLowerCase() + s.slice(1);
}

/** The fact table, built once. */
export const FACTS: readonly Fact[] = [
  ...CAPITALS.map(([country, city]) => ({
    questions: [`What is the capital of ${country}?`, `What's the capital city of ${country}?`, `Which city is the capital of ${country}?`],
    answer: `The capital of ${country} is ${city}.`,
    reasoning: `The user asks for the capital of ${country}. The capital of ${country} is ${city}.`,
  })),
  ...COUNTS.map(([q, a, r]) => ({ questions: [q], answer: a, reasoning: `${r} No tool is needed for this.` })),
  ...SIMPLE.map(([qs, a, r]) => ({ questions: qs, answer: a, reasoning: `${r} I can answer from what I know.` })),
];

/** Small talk: user lines and the assistant reply (plus reasoning). */
export const SMALL_TALK: readonly Fact[] = [
  { questions: ['Hi!', 'Hello', 'Hello!', 'Hey there', 'Hi'], answer: 'Hello! How can I help you today?', reasoning: 'The user is greeting me. I will greet them back and offer help.' },
  { questions: ['Good morning!', 'Good morning'], answer: 'Good morning! What can I do for you?', reasoning: 'The user says good morning. I will reply politely.' },
  { questions: ['Thanks!', 'Thank you', 'Thank you!', 'Thanks a lot'], answer: "You're welcome!", reasoning: 'The user is thanking me. I will say you are welcome.' },
  { questions: ['Bye!', 'Goodbye', 'See you later'], answer: 'Goodbye! Have a nice day.', reasoning: 'The user is leaving. I will say goodbye.' },
  { questions: ['How are you?', 'How are you doing?'], answer: "I'm doing well, thank you! How can I help?", reasoning: 'The user asks how I am. I will answer briefly and offer help.' },
  {
    questions: ['Who are you?', 'What are you?', 'What is your name?'],
    answer: 'I am a small demo model for nemotron-ts. I can do exact arithmetic, convert units and tell the time when I have the tools for it.',
    reasoning: 'The user asks who I am. I am the small nemotron-ts demo model.',
  },
  {
    questions: ['What can you do?', 'How can you help me?', 'What are you good at?'],
    answer: 'I can answer simple questions, and with my tools I can calculate, convert units and tell the current time.',
    reasoning: 'The user asks what I can do. I will list my skills.',
  },
  {
    questions: ['Tell me a joke.', 'Tell me a joke!', 'Say something funny.'],
    answer: 'Why did the math book look sad? Because it had too many problems.',
    reasoning: 'The user wants a joke. I will tell a short, simple one.',
  },
];

/** Requests that none of the demo tools can serve: [user line, what it needs, the decline wording]. */
export const UNSERVABLE: readonly [string, string][] = [
  ['What is the weather in {city} today?', 'check the weather'],
  ['Will it rain in {city} tomorrow?', 'check the weather forecast'],
  ['Send an email to my boss saying I am late.', 'send emails'],
  ['Book a table for two at 7 pm.', 'make bookings'],
  ['Search the web for the latest news.', 'search the web'],
  ['What are the top news stories today?', 'read the news'],
  ['Play some music.', 'play music'],
  ['Set an alarm for 6 am.', 'set alarms'],
  ['Order a pizza for me.', 'place orders'],
  ['What is the stock price of NVIDIA right now?', 'look up stock prices'],
  ['Translate this page into French.', 'open web pages'],
  ['Call my mom.', 'make phone calls'],
  ['Turn on the lights in the kitchen.', 'control devices'],
  ['Show me a picture of a cat.', 'show pictures'],
];

/** Optional system prompts (none is also common). */
export const SYSTEM_PROMPTS: readonly string[] = [
  'You are a helpful assistant.',
  'You are a helpful assistant. Be concise.',
  'You are a friendly assistant that answers briefly.',
  'You are the nemotron-ts demo assistant.',
];

export { lowerFirst };

// Python's datetime.strftime for the directives chat templates use (`strftime_now("%d %b %Y")`),
// in local time like `datetime.now()`, with the C locale's English names.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  const utcA = Date.UTC(d.getFullYear(), d.getMonth(), d.getDate());
  const utcB = Date.UTC(start.getFullYear(), 0, 1);
  return Math.floor((utcA - utcB) / 86_400_000) + 1;
}

/** Format `d` like Python's `d.strftime(fmt)`; unknown directives are left as written. */
export function strftime(d: Date, fmt: string): string {
  return fmt.replace(/%([-]?)([a-zA-Z%])/g, (whole, flag: string, c: string) => {
    const noPad = flag === '-';
    const p = (n: number, w = 2): string => (noPad ? String(n) : pad(n, w));
    const h12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
    switch (c) {
      case 'Y':
        return String(d.getFullYear());
      case 'y':
        return pad(d.getFullYear() % 100);
      case 'm':
        return p(d.getMonth() + 1);
      case 'd':
        return p(d.getDate());
      case 'e':
        return String(d.getDate()).padStart(2, ' ');
      case 'H':
        return p(d.getHours());
      case 'I':
        return p(h12);
      case 'M':
        return p(d.getMinutes());
      case 'S':
        return p(d.getSeconds());
      case 'f':
        return pad(d.getMilliseconds() * 1000, 6);
      case 'p':
        return d.getHours() < 12 ? 'AM' : 'PM';
      case 'a':
        return DAYS[d.getDay()]!.slice(0, 3);
      case 'A':
        return DAYS[d.getDay()]!;
      case 'w':
        return String(d.getDay());
      case 'b':
      case 'h':
        return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'B':
        return MONTHS[d.getMonth()]!;
      case 'j':
        return p(dayOfYear(d), 3);
      case 'D':
        return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${pad(d.getFullYear() % 100)}`;
      case 'F':
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
      case 'T':
        return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
      case '%':
        return '%';
      default:
        return whole;
    }
  });
}

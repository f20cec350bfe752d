// Structured logs: one JSON object per line on stderr, quiet ("warn") by default so a node
// started by hand or under a test runner prints only what needs attention.
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  level: LogLevel;
}

export function isLogLevel(s: string): s is LogLevel {
  return s in ORDER;
}

export function createLogger(
  level: LogLevel = (process.env.FLOWCHAIN_LOG_LEVEL as LogLevel) ?? "warn",
  base: Record<string, unknown> = {},
  sink: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): Logger {
  if (!isLogLevel(level)) level = "warn";
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[logger.level]) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }));
  };
  const logger: Logger = {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(logger.level, { ...base, ...fields }, sink),
  };
  return logger;
}

export const silentLogger: Logger = createLogger("silent");

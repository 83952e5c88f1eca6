import { formatDuration } from '../../duration.ts';
import { describeForecast, describeSpread, type Forecast } from '../../report/forecast.ts';
import { dayTimeOf, escapeMrkdwn } from './format.ts';

// How a forecast reads in Slack: in `/migrate plan`, and in the reply to a start.

/** `/migrate plan`'s forecast section: the total, the downtime, and the change windows. */
export function forecastSection(forecast: Forecast | null, windows: string | undefined): string {
  const lines = [
    forecast
      ? `⏱️ *Forecast*: ${escapeMrkdwn(describeForecast(forecast))}${forecast.downtime ? ` · downtime (maintenance on to off) ${describeSpread(forecast.downtime)}` : ''}`
      : '⏱️ *Forecast*: none yet; no earlier run has these steps in this order. The first run sets one.',
  ];
  if (windows) lines.push(`🗓️ *Change windows*: ${escapeMrkdwn(windows)}`);
  return lines.join('\n');
}

/** A step's line in `/migrate plan`: " · ~5m (worst 8m)". */
export function stepForecast(forecast: Forecast | null, index: number): string {
  const step = forecast?.steps[index];
  return step ? ` · ~${formatDuration(step.p50Ms)} (worst ${formatDuration(step.worstMs)})` : '';
}

/** The reply to a start: how long it should take and when it should be done. */
export function forecastSentence(forecast: Forecast | null | undefined, startAt: number): string {
  if (!forecast) return 'No forecast yet: no earlier run had these steps.';
  const downtime = forecast.downtime ? `, downtime ${describeSpread(forecast.downtime)}` : '';
  return `Forecast ${escapeMrkdwn(describeForecast(forecast))}${downtime}: expected done at ${dayTimeOf(startAt + forecast.total.p50Ms)}.`;
}

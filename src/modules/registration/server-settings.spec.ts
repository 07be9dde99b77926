import { effectiveSettings } from './server-settings';

const OWN = { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 };

describe("effectiveSettings: the server wins within range, the operator's own settings are the fallback", () => {
  it("no configuration at all: the operator's own settings", () => {
    expect(effectiveSettings(undefined, OWN)).toEqual({ ...OWN, clamped: [] });
  });

  it("a setting the server leaves out falls back to the operator's own", () => {
    expect(effectiveSettings({ statusUpdateIntervalSeconds: 30 }, OWN)).toEqual({
      statusUpdateIntervalSeconds: 30,
      reregistrationIntervalHours: 24,
      clamped: [],
    });
    expect(effectiveSettings({ reregistrationIntervalHours: 6 }, OWN)).toEqual({
      statusUpdateIntervalSeconds: 60,
      reregistrationIntervalHours: 6,
      clamped: [],
    });
  });

  it.each([
    [
      { statusUpdateIntervalSeconds: 5 },
      'statusUpdateIntervalSeconds',
      10,
      'kube9-server sent statusUpdateIntervalSeconds=5, outside 10..240; using 10',
    ],
    [
      { statusUpdateIntervalSeconds: 3600 },
      'statusUpdateIntervalSeconds',
      240,
      'kube9-server sent statusUpdateIntervalSeconds=3600, outside 10..240; using 240',
    ],
    [
      { reregistrationIntervalHours: 0 },
      'reregistrationIntervalHours',
      1,
      'kube9-server sent reregistrationIntervalHours=0, outside 1..720; using 1',
    ],
    [
      { reregistrationIntervalHours: 9000 },
      'reregistrationIntervalHours',
      720,
      'kube9-server sent reregistrationIntervalHours=9000, outside 1..720; using 720',
    ],
  ] as const)('%j is clamped into range and said so', (server, name, value, sentence) => {
    const settings = effectiveSettings(server, OWN);

    expect(settings[name]).toBe(value);
    expect(settings.clamped).toEqual([sentence]);
  });

  it('the bounds themselves are kept as they are', () => {
    expect(effectiveSettings({ statusUpdateIntervalSeconds: 240, reregistrationIntervalHours: 1 }, OWN)).toEqual({
      statusUpdateIntervalSeconds: 240,
      reregistrationIntervalHours: 1,
      clamped: [],
    });
  });
});

/*
 * Every API key the end-to-end tests hand to an operator. The no-leak test
 * searches all the operators printed and wrote for each of them.
 */
export const TEST_KEYS = {
  valid: 'kdy_dev_e2evalid0key1',
  second: 'kdy_prod_e2esecond2key2',
  revoked: 'kdy_dev_e2erevoked3key3',
  expired: 'kdy_dev_e2eexpired4key4',
  chart: 'kdy_prod_e2echart5key5',
  upgrade: 'kdy_prod_e2eupgrade6key6',
  /** Holds a character that is invalid in an HTTP header. */
  headerBreaking: 'kdy_dev_e2ebad\nX-Leak: 7key7',
} as const;

export const ALL_TEST_KEYS: string[] = Object.values(TEST_KEYS);

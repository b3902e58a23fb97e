/** `ol.attack`: empirical attacks that check certified radii. */
export { pgd, PgdOptions, PgdResult } from './pgd';

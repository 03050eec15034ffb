/** The recordings reader lives with the other shared test support. */
export * from '../support/recordings.js';

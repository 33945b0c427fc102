import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteBudget } from '../../../src/http/byte-budget.ts';

describe('ByteBudget', () => {
  it('takes what fits, refuses what would not without taking it, and gets it back', () => {
    const budget = new ByteBudget(100);
    assert.equal(budget.take(60), true);
    assert.equal(budget.take(41), false);
    assert.equal(budget.inUse, 60, 'a refused take holds nothing');
    assert.equal(budget.take(40), true);
    assert.equal(budget.take(1), false);
    budget.give(60);
    assert.equal(budget.inUse, 40);
    assert.equal(budget.take(60), true);
    budget.give(100);
    assert.equal(budget.inUse, 0);
    budget.give(5);
    assert.equal(budget.inUse, 0, 'never below zero');
  });
});
